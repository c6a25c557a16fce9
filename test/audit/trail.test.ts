import t from 'tap';
import { contextAttributes, policyAttributes, stageEvent } from '../../src/audit/event.js';
import { decide, DEFAULT_POLICY, type Policy } from '../../src/audit/policy.js';
import { createAuditTrail } from '../../src/audit/trail.js';
import type { RequestContext } from '../../src/request/context.js';
import { parseRequestInfo } from '../../src/request/request-info.js';
import type { UserInfo } from '../../src/identity/user.js';

const context = (method: string, url: string, user: UserInfo | undefined): RequestContext => ({
  auditId: 'a-1', receivedAt: new Date(0), clientAddress: '127.0.0.1', method, url, userAgent: undefined,
  info: parseRequestInfo(method, url), ...(user && { user }), strippedImpersonation: [], strippedRequestHeaders: [],
});

const URLS = [
  '/api/v1/namespaces/default/pods?limit=5',
  '/api/v1/namespaces/default/pods/web-0/log?follow=true',
  '/api/v1/nodes/n1',
  '/apis/apps/v1/namespaces/prod/deployments/api/scale',
  '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  '/api/v1/watch/namespaces/default/configmaps/cm',
  '/api/v1/namespaces',
  '/healthz?verbose',
  '/version',
  '/apis',
  '/',
];
const USERS: (UserInfo | undefined)[] = [undefined, { username: 'alice', groups: [], extra: {} }, { username: 'bob', uid: 'u', groups: ['dev', 'ops'], extra: { k: ['v'] } }];

t.test('the attributes read from the context are the ones the stage record carries', async (t) => {
  for (const url of URLS) {
    for (const method of ['GET', 'POST', 'DELETE']) {
      for (const user of USERS) {
        const ctx = context(method, url, user);
        t.same(contextAttributes(ctx), policyAttributes(stageEvent(ctx, 'RequestReceived', {})), `${method} ${url} as ${user?.username ?? 'nobody'}`);
      }
    }
  }
});

t.test('stage records: written as the policy says, an omitted stage never reaches the output', async (t) => {
  const keepAll: Policy = { ...DEFAULT_POLICY, omitStages: [] };
  for (const [policy, expected] of [[DEFAULT_POLICY, []], [keepAll, ['RequestReceived']]] as const) {
    const lines: string[] = [];
    const trail = createAuditTrail({ policy, maxBodyBytes: 0, failClosed: false, output: { write: (l) => void lines.push(l), healthy: () => true, close: async () => {} } });
    const ctx = context('GET', URLS[0]!, USERS[2]);
    const decision = trail.hooks.decide(ctx);
    t.equal(decision.level, 'Metadata');
    trail.hooks.stage(ctx, 'RequestReceived', { decision, annotations: {} });
    t.same(lines.map((l) => JSON.parse(l).stage), expected);
    if (lines.length > 0) t.match(JSON.parse(lines[0]!), { level: 'Metadata', user: { username: 'bob', groups: ['dev', 'ops'] }, objectRef: { resource: 'pods', namespace: 'default' } });
  }
});

t.test('decisions are shared per rule and cannot be changed by a caller', async (t) => {
  const attrs = contextAttributes(context('GET', URLS[0]!, USERS[1]));
  const d = decide(DEFAULT_POLICY, attrs);
  t.equal(decide(DEFAULT_POLICY, attrs), d);
  t.same(d, { level: 'Metadata', omitStages: ['RequestReceived'], omitManagedFields: false });
  t.ok(Object.isFrozen(d) && Object.isFrozen(d.omitStages));
  const none: Policy = { rules: [], omitStages: ['ResponseStarted'], omitManagedFields: true };
  t.same(decide(none, attrs), { level: 'None', omitStages: ['ResponseStarted'], omitManagedFields: true });
});
