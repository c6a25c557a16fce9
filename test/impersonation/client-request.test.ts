/**
 * `kubectl --as` requests: parsing the client's Impersonate-* header lines, the authorizer attributes
 * checked for each (as kube-apiserver's impersonation filter builds them), the identity that results,
 * and the review cache (clock injected: no waiting).
 */
import t from 'tap';
import { KubeConfig } from '@kubernetes/client-node';
import { KubegateError } from '../../src/errors/errors.js';
import { authorizeImpersonation, parseImpersonationRequest, requestedAttributes } from '../../src/impersonation/client-request.js';
import { createAccessReviewer, type ReviewCall } from '../../src/upstream/access-review.js';

const ALICE = { username: 'alice@example.com', groups: ['dev'], extra: {} };
const raw = (...pairs: [string, string][]) => pairs.flat();

t.test('parsing', async (t) => {
  t.equal(parseImpersonationRequest(raw(['Accept', '*/*'])), undefined, 'no impersonation headers: no request');
  t.same(parseImpersonationRequest(raw(['Impersonate-User', 'devops-admin'], ['IMPERSONATE-GROUP', 'ops, oncall'], ['impersonate-group', 'sre'], ['Impersonate-Uid', '42'], ['Impersonate-Extra-Example.com%2FScopes', 'a'], ['impersonate-extra-example.com%2fscopes', 'b'])), {
    user: 'devops-admin',
    groups: ['ops, oncall', 'sre'],
    uid: '42',
    extra: { 'example.com/scopes': ['a', 'b'] },
  }, 'each header line is one value (a comma stays inside a group); extra keys lower-cased and unescaped');
  t.same(parseImpersonationRequest(raw(['Impersonate-User', Buffer.from('zoë', 'utf8').toString('latin1')]))?.user, 'zoë', 'UTF-8 names decoded from their bytes');
  for (const [name, headers] of [
    ['groups without a user', raw(['Impersonate-Group', 'system:masters'])],
    ['a uid without a user', raw(['Impersonate-Uid', '0'])],
    ['extra without a user', raw(['Impersonate-Extra-Scopes', 'x'])],
    ['two users', raw(['Impersonate-User', 'a'], ['Impersonate-User', 'b'])],
    ['an empty user', raw(['Impersonate-User', ''])],
    ['two uids', raw(['Impersonate-User', 'a'], ['Impersonate-Uid', '1'], ['Impersonate-Uid', '2'])],
    ['an unknown impersonation header', raw(['Impersonate-User', 'a'], ['Impersonate-Whatever', 'x'])],
    ['a malformed extra key', raw(['Impersonate-User', 'a'], ['Impersonate-Extra-%E0%A4%A', 'x'])],
  ] as const) {
    t.throws(() => parseImpersonationRequest(headers), { code: 'IMPERSONATION_INVALID', status: 400 }, name);
  }
});

t.test('attributes, as kube-apiserver checks them', async (t) => {
  t.same(requestedAttributes({ user: 'devops-admin', groups: ['ops'], uid: '42', extra: { scopes: ['a', 'b'] } }), [
    { verb: 'impersonate', group: '', resource: 'users', name: 'devops-admin' },
    { verb: 'impersonate', group: '', resource: 'groups', name: 'ops' },
    { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: '42' },
    { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'a' },
    { verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: 'scopes', name: 'b' },
  ]);
  t.same(requestedAttributes({ user: 'system:serviceaccount:ci:deployer', groups: [], extra: {} }), [{ verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: 'ci', name: 'deployer' }], 'a service account is checked in its namespace');
  t.throws(() => requestedAttributes({ user: 'system:serviceaccount:ci', groups: [], extra: {} }), { code: 'IMPERSONATION_INVALID' });
});

t.test('authorization', async (t) => {
  const asked: Parameters<ReviewCall>[0][] = [];
  let allow = (name: string | undefined) => name !== 'root';
  const call: ReviewCall = async (spec) => {
    asked.push(spec);
    return { allowed: allow(spec.resourceAttributes.name) };
  };
  const reviewer = createAccessReviewer(new KubeConfig(), { allowSeconds: 10, denySeconds: 0 }, call);
  const target = await authorizeImpersonation(ALICE, { user: 'devops-admin', groups: ['ops'], extra: {} }, reviewer);
  t.same(target, { username: 'devops-admin', groups: ['ops'], extra: { 'kubegate.io/original-username': ['alice@example.com'], 'kubegate.io/original-groups': ['dev'] } }, 'the requested identity, with who really acted');
  t.same(asked[0]?.user, 'alice@example.com', 'reviews ask about the authenticated person');
  t.same(asked[0]?.groups, ['dev', 'system:authenticated'], '…as the API server sees them: authenticated');
  const denied = await authorizeImpersonation(ALICE, { user: 'root', groups: [], extra: {} }, reviewer).catch((e: unknown) => e);
  t.ok(denied instanceof KubegateError);
  t.match(denied, { code: 'IMPERSONATION_DENIED', status: 403 });
  t.equal((denied as KubegateError).clientMessage, 'users "root" is forbidden: User "alice@example.com" cannot impersonate resource "users" in API group "" at the cluster scope', 'the client is told which attribute was refused');
  allow = () => true;
  await t.rejects(authorizeImpersonation(ALICE, { user: 'x', groups: [], extra: { 'kubegate.io/original-username': ['mallory'] } }, reviewer), { code: 'IMPERSONATION_DENIED' }, 'kubegate\'s own extra keys cannot be requested');
});

t.test('the review cache: per person and attribute, denials shorter, failures never allow', async (t) => {
  let clock = 0;
  let calls = 0;
  let answer: 'allow' | 'deny' | 'fail' = 'allow';
  const call: ReviewCall = async () => {
    calls++;
    if (answer === 'fail') throw new Error('connect ECONNREFUSED');
    return { allowed: answer === 'allow' };
  };
  const reviewer = createAccessReviewer(new KubeConfig(), { allowSeconds: 10, denySeconds: 2, now: () => clock }, call);
  const attrs = { verb: 'impersonate', group: '', resource: 'users', name: 'devops-admin' };
  const burst = await Promise.all(Array.from({ length: 20 }, () => reviewer.review(ALICE, attrs)));
  t.ok(burst.every((d) => d.allowed));
  t.equal(calls, 1, 'a burst of 20 concurrent checks: one review');
  clock = 9_999;
  await reviewer.review(ALICE, attrs);
  t.equal(calls, 1, 'reused within allowSeconds');
  await reviewer.review({ ...ALICE, groups: ['other'] }, attrs);
  t.equal(calls, 2, 'another person (other groups) is another review');
  clock = 10_000;
  answer = 'deny';
  t.equal((await reviewer.review(ALICE, attrs)).allowed, false, 'after allowSeconds the answer is asked again');
  t.equal(calls, 3);
  clock = 11_999;
  answer = 'allow';
  t.equal((await reviewer.review(ALICE, attrs)).allowed, false, 'a denial is reused for denySeconds');
  clock = 12_000;
  t.equal((await reviewer.review(ALICE, attrs)).allowed, true, '…and no longer');
  clock = 30_000;
  answer = 'fail';
  await t.rejects(reviewer.review(ALICE, attrs), { code: 'AUTHORIZATION_UNAVAILABLE', status: 503 }, 'an unreachable authorizer is 503, never allow');
});
