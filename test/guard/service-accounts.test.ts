import t from 'tap';
import { SignJWT } from 'jose';
import { createServiceAccountReviewer, type TokenReviewResult } from '../../src/guard/service-accounts.js';

const token = (exp: number) => new SignJWT({ 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'sa' } } }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(exp - 3600).setExpirationTime(exp).sign(new TextEncoder().encode('x'.repeat(32)));
const SA: TokenReviewResult = { authenticated: true, user: { username: 'system:serviceaccount:ns:sa', uid: 'u', groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated', 'oidc:admins'] } };

t.test('answers are cached for cacheSeconds, never past exp; identity and token facts', async (t) => {
  let now = 1_000_000_000_000;
  let calls = 0;
  const r = createServiceAccountReviewer(async () => (calls++, SA), { cacheSeconds: 10, now: () => now });
  const tok = await token(now / 1000 + 3600);
  const a = await r.authenticate(tok);
  t.same(a.user, { username: 'system:serviceaccount:ns:sa', uid: 'u', groups: ['system:serviceaccounts', 'system:serviceaccounts:ns'], extra: {} }, 'only the service-account groups');
  t.equal(a.session.expiresAt! - a.session.issuedAt!, 3600, 'iat/exp read once the API server vouched for the token');
  await r.authenticate(tok);
  t.equal(calls, 1);
  now += 10_001;
  await r.authenticate(tok);
  t.equal(calls, 2, 'asked again after cacheSeconds');
  const soon = await token(now / 1000 + 2);
  await r.authenticate(soon);
  now += 2_001;
  await r.authenticate(soon);
  t.equal(calls, 4, 'not reused past exp');
});

t.test('refusals', async (t) => {
  const code = async (result: TokenReviewResult | Error) => {
    const r = createServiceAccountReviewer(async () => {
      if (result instanceof Error) throw result;
      return result;
    }, { cacheSeconds: 10 });
    try {
      await r.authenticate(await token(Date.now() / 1000 + 60));
      return 'ok';
    } catch (err) {
      return (err as { code: string }).code;
    }
  };
  t.equal(await code({ authenticated: false, error: 'expired' }), 'AUTHN_INVALID_TOKEN');
  t.equal(await code({ authenticated: true, user: { username: 'system:node:n1', groups: ['system:nodes'] } }), 'AUTHN_INVALID_TOKEN', 'a node is not a service account');
  t.equal(await code({ authenticated: true, user: { username: 'alice' } }), 'AUTHN_INVALID_TOKEN');
  t.equal(await code(Object.assign(new Error('connect'), { code: 'ECONNREFUSED' })), 'UPSTREAM_UNREACHABLE', 'no answer: 503, never allowed');
});
