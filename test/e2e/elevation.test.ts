/**
 * Break-glass elevation end to end: kubegate's own API on the proxy listener, the policy's refusals, the
 * two-person rule, grants taking effect on the next request (real kubectl `auth whoami` shows the group),
 * revocation and expiry (clock injected: no sleeps), two kubegate instances on one shared store (the
 * Elevation resource served by the recording fake API server), and an audit record for every grant event.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.js';
import { startHarness, type Harness } from '../support/harness.js';
import { createFakeElevations } from '../support/fake-elevations.js';
import { startExtraKubegate } from '../support/streaming.js';
import { eventually } from '../support/wait.js';

const MINUTE = 60_000;
const START = Date.parse('2026-11-27T09:00:00Z');

function policy(store: Record<string, unknown>) {
  return {
    store,
    pendingTimeoutSeconds: 900,
    rules: [
      {
        name: 'sre-break-glass',
        requesters: { groups: ['sre'] },
        groups: ['break-glass:cluster-admin'],
        maxDurationSeconds: 1800,
        minReasonLength: 8,
        mfa: { amr: ['mfa', 'otp'] },
        maxAuthAgeSeconds: 600,
        approvers: { groups: ['sre-leads'] },
      },
      { name: 'oncall-debug', requesters: { users: ['bob@example.com'] }, groups: ['oncall-debug'], maxDurationSeconds: 600, minReasonLength: 3 },
    ],
  };
}

interface Api {
  status: number;
  body: Record<string, unknown>;
}

async function api(h: Harness, token: string, method: string, path: string, body?: unknown): Promise<Api> {
  const r = await h.send(path, { method, headers: [['Authorization', `Bearer ${token}`], ['Content-Type', 'application/json']], ...(body !== undefined && { body: JSON.stringify(body) }) });
  return { status: r.status, body: JSON.parse(r.body) as Record<string, unknown> };
}

async function whoami(h: Harness, token: string): Promise<{ groups: string[]; extra: Record<string, string[]> }> {
  const r = await h.kubectl(['auth', 'whoami', '-o', 'json'], token);
  if (r.code !== 0) throw new Error(r.stderr);
  const info = (JSON.parse(r.stdout) as { status: { userInfo: { groups: string[]; extra?: Record<string, string[]> } } }).status.userInfo;
  return { groups: info.groups, extra: info.extra ?? {} };
}

t.test('break-glass elevation', async (t) => {
  let clock = START;
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-elevation-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const harness = await startHarness({
    config: { elevation: policy({ type: 'file', path: join(dir, 'elevations.json') }) },
    start: { elevation: { now: () => clock } },
  });
  t.teardown(() => harness.close());
  const mint = (sub: string, email: string, groups: string[], extra: Record<string, unknown> = {}) =>
    harness.issuer.mintIdToken({ sub, claims: { email, email_verified: true, groups, amr: ['pwd', 'mfa'], auth_time: Math.floor(clock / 1000) - 60, ...extra } });
  const alice = await mint('alice', 'alice@example.com', ['sre']);
  const carol = await mint('carol', 'carol@example.com', ['sre-leads']);
  const bob = await mint('bob', 'bob@example.com', ['dev']);
  const mallory = await mint('mallory', 'mallory@example.com', ['dev']);
  const BREAK_GLASS = { groups: ['break-glass:cluster-admin'], durationSeconds: 900, reason: 'INC-4211 database failover' };

  t.test('refusals say why', async (t) => {
    const cases: [string, string, unknown, number, RegExp][] = [
      ['not eligible', mallory, BREAK_GLASS, 403, /not eligible/],
      ['duration over the maximum', alice, { ...BREAK_GLASS, durationSeconds: 3600 }, 400, /3600s exceeds the maximum of rule sre-break-glass: 1800s/],
      ['reason too short', alice, { ...BREAK_GLASS, reason: 'oops' }, 400, /at least 8 characters/],
      ['reason missing', alice, { groups: BREAK_GLASS.groups, durationSeconds: 900 }, 400, /reason is required/],
      ['MFA missing', await mint('alice-pwd', 'alice@example.com', ['sre'], { amr: ['pwd'] }), BREAK_GLASS, 403, /multi-factor/],
      ['login too old', await mint('alice-old', 'alice@example.com', ['sre'], { auth_time: Math.floor(clock / 1000) - 3600 }), BREAK_GLASS, 403, /fresh MFA prompt/],
      ['unknown field', alice, { ...BREAK_GLASS, admin: true }, 400, /unknown field admin/],
    ];
    for (const [name, token, body, code, message] of cases) {
      const r = await api(harness, token, 'POST', '/kubegate/v1/elevations', body);
      t.equal(r.status, code, name);
      t.match(r.body, { kind: 'Status', code, message }, name);
    }
  });

  let id = '';
  t.test('request → pending; no self-approval; a second person approves → the group applies on the next request', async (t) => {
    t.same((await whoami(harness, alice)).groups, ['sre', 'system:authenticated'], 'before: the person as they are');
    const created = await api(harness, alice, 'POST', '/kubegate/v1/elevations', BREAK_GLASS);
    t.equal(created.status, 201);
    t.match(created.body, { phase: 'Pending', requester: 'alice@example.com', groups: ['break-glass:cluster-admin'], rule: 'sre-break-glass' });
    id = created.body.id as string;
    t.same((await whoami(harness, alice)).groups, ['sre', 'system:authenticated'], 'pending: no effect yet');
    const self = await api(harness, alice, 'POST', `/kubegate/v1/elevations/${id}/approve`);
    t.equal(self.status, 403);
    t.match(self.body.message, /cannot approve your own request/);
    const stranger = await api(harness, mallory, 'POST', `/kubegate/v1/elevations/${id}/approve`);
    t.equal(stranger.status, 404, 'someone who may not see it cannot approve it');
    clock += MINUTE;
    const approved = await api(harness, carol, 'POST', `/kubegate/v1/elevations/${id}/approve`);
    t.equal(approved.status, 200);
    t.match(approved.body, { phase: 'Active', approvedBy: 'carol@example.com', expiresAt: new Date(clock + 900_000).toISOString() });
    const again = await api(harness, carol, 'POST', `/kubegate/v1/elevations/${id}/approve`);
    t.equal(again.status, 409, 'approved once only');
    const seen = await whoami(harness, alice);
    t.same(seen.groups, ['sre', 'break-glass:cluster-admin', 'system:authenticated'], 'active: the next request carries the group');
    t.same(seen.extra['kubegate.io/elevation'], [id], 'and the grant id');
    t.same((await api(harness, alice, 'GET', '/kubegate/v1/elevations')).body.items, [approved.body], 'the requester sees it');
    t.equal(((await api(harness, mallory, 'GET', '/kubegate/v1/elevations')).body.items as unknown[]).length, 0, 'others do not');
  });

  t.test('expiry takes effect on the next request, without waiting for a sweep', async (t) => {
    clock += 899_000;
    t.ok((await whoami(harness, alice)).groups.includes('break-glass:cluster-admin'), 'a second before expiry: still elevated');
    clock += 1_000;
    t.same((await whoami(harness, alice)).groups, ['sre', 'system:authenticated'], 'at expiry: gone');
    t.match((await api(harness, alice, 'GET', `/kubegate/v1/elevations/${id}`)).body, { phase: 'Expired' });
  });

  t.test('no approval needed: active at once; revocation takes effect on the next request', async (t) => {
    const created = await api(harness, bob, 'POST', '/kubegate/v1/elevations', { groups: ['oncall-debug'], durationSeconds: 300, reason: 'PAGE-1' });
    t.equal(created.status, 201);
    t.match(created.body, { phase: 'Active' });
    t.ok((await whoami(harness, bob)).groups.includes('oncall-debug'));
    const revoked = await api(harness, bob, 'POST', `/kubegate/v1/elevations/${created.body.id as string}/revoke`);
    t.match(revoked.body, { phase: 'Revoked', revokedBy: 'bob@example.com' });
    t.notOk((await whoami(harness, bob)).groups.includes('oncall-debug'), 'revoked: gone at once');
  });

  t.test('kubegate\'s own API is never forwarded, and refuses impersonation headers and upgrades', async (t) => {
    const before = harness.fake.requests.length;
    const r = await harness.send('/kubegate/v1/elevations', { headers: [['Authorization', `Bearer ${alice}`], ['Impersonate-User', 'carol@example.com']] });
    t.equal(r.status, 400);
    t.equal((await harness.send('/kubegate/v1/elevations')).status, 401, 'authenticated like every request');
    t.equal((await api(harness, alice, 'GET', '/kubegate/v1/nothing')).status, 404);
    t.equal(harness.fake.requests.filter((q) => q.url.startsWith('/kubegate')).length, 0);
    t.ok(harness.fake.requests.length >= before);
  });

  t.test('every grant event is an audit record; requests under a grant carry its id and reason', async (t) => {
    const records = await harness.stopAndReadAudit();
    const events = records.filter((e) => e.annotations?.['kubegate.io/elevation-event'] !== undefined);
    const kinds = (elevation: string) => events.filter((e) => e.annotations?.['kubegate.io/elevation-id'] === elevation).map((e) => e.verb);
    t.same(kinds(id), ['requested', 'refused', 'approved', 'activated', 'refused', 'expired'].filter((k) => k !== 'expired' || events.some((e) => e.verb === 'expired')), 'requested, self-approval refused, approved, activated, second approval refused (and expired once swept)');
    const approvedRecord = events.find((e) => e.verb === 'approved');
    t.match(approvedRecord?.annotations, { 'kubegate.io/elevation-approver': 'carol@example.com', 'kubegate.io/elevation-reason': BREAK_GLASS.reason, 'kubegate.io/elevation-duration-seconds': '900' });
    t.equal(approvedRecord?.user.username, 'carol@example.com');
    t.ok(events.filter((e) => e.verb === 'refused' && !e.annotations?.['kubegate.io/elevation-id']).length >= 6, 'refused requests are on record too');
    const under = records.find((e: AuditEvent) => e.annotations?.['kubegate.io/elevation-id'] === id && e.annotations?.['kubegate.io/elevation-event'] === undefined && e.requestURI.includes('selfsubjectreviews'));
    t.match(under?.annotations, { 'kubegate.io/elevation-reason': BREAK_GLASS.reason });
    t.same(under?.impersonatedUser?.groups, ['sre', 'break-glass:cluster-admin']);
    t.same(under?.user.groups, ['sre'], 'user: the person as authenticated');
  });
});

t.test('two kubegate instances on one Kubernetes store see the same grant and the same revocation', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  createFakeElevations().install(h.fake);
  const a = await startExtraKubegate(h, { elevation: policy({ type: 'kubernetes', namespace: 'kubegate' }) });
  t.teardown(() => a.close());
  const b = await startExtraKubegate(h, { elevation: policy({ type: 'kubernetes', namespace: 'kubegate' }) });
  t.teardown(() => b.close());
  const claims = { email_verified: true, amr: ['mfa'], auth_time: Math.floor(Date.now() / 1000) };
  const alice = await h.issuer.mintIdToken({ sub: 'alice', claims: { ...claims, email: 'alice@example.com', groups: ['sre'] } });
  const carol = await h.issuer.mintIdToken({ sub: 'carol', claims: { ...claims, email: 'carol@example.com', groups: ['sre-leads'] } });
  const groupsAt = async (send: (path: string, init: { method?: string; headers: [string, string][]; body?: string }) => Promise<{ status: number; body: string }>, token: string) => {
    const r = await send('/apis/authentication.k8s.io/v1/selfsubjectreviews', { method: 'POST', headers: [['Authorization', `Bearer ${token}`], ['Content-Type', 'application/json']], body: '{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1"}' });
    return (JSON.parse(r.body) as { status: { userInfo: { groups: string[] } } }).status.userInfo.groups;
  };
  const created = JSON.parse((await a.send('/kubegate/v1/elevations', { method: 'POST', headers: [['Authorization', `Bearer ${alice}`]], body: JSON.stringify({ groups: ['break-glass:cluster-admin'], durationSeconds: 600, reason: 'INC-1 two replicas' }) })).body) as { id: string };
  t.ok(created.id, `created on instance A: ${JSON.stringify(created)}`);
  // Both instances know the request (B learns it from the store's watch), then two approvals race on them: exactly one wins.
  await eventually('instance B to see the pending request', async () => ((await b.send(`/kubegate/v1/elevations/${created.id}`, { headers: [['Authorization', `Bearer ${carol}`]] })).status === 200 ? true : undefined), 10_000, 50);
  const [x, y] = await Promise.all([
    a.send(`/kubegate/v1/elevations/${created.id}/approve`, { method: 'POST', headers: [['Authorization', `Bearer ${carol}`]] }),
    b.send(`/kubegate/v1/elevations/${created.id}/approve`, { method: 'POST', headers: [['Authorization', `Bearer ${carol}`]] }).catch(() => ({ status: 0, body: '' })),
  ]);
  t.same([x.status, y.status].sort(), [200, 409], 'one approval wins, the other is refused (409), never both');
  await eventually('instance B to see the grant', async () => ((await groupsAt(b.send, alice)).includes('break-glass:cluster-admin') ? true : undefined), 10_000, 50);
  t.ok((await groupsAt(a.send, alice)).includes('break-glass:cluster-admin'), 'instance A too');
  const revoked = await b.send(`/kubegate/v1/elevations/${created.id}/revoke`, { method: 'POST', headers: [['Authorization', `Bearer ${alice}`]] });
  t.equal(revoked.status, 200, 'revoked on instance B');
  await eventually('instance A to see the revocation', async () => (!(await groupsAt(a.send, alice)).includes('break-glass:cluster-admin') ? true : undefined), 10_000, 50);
  t.pass('revocation seen by both');
  t.same(h.fake.violations, [], 'the store\'s calls were kubegate\'s own: credential, no impersonation');
});
