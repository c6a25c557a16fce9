import t from 'tap';
import { SignJWT } from 'jose';
import { checkTokenPolicy, looksLikeServiceAccountToken } from '../../src/guard/token-policy.js';
import { KubegateError } from '../../src/errors/errors.js';

const code = (fn: () => void) => {
  try {
    fn();
    return 'ok';
  } catch (err) {
    return (err as KubegateError).code;
  }
};

t.test('token lifetime', async (t) => {
  const policy = { maxTokenLifetimeSeconds: 12 * 3600, requiredAmr: [], requiredAcr: [] };
  t.equal(code(() => checkTokenPolicy({ amr: [], issuedAt: 1000, expiresAt: 1000 + 12 * 3600 }, policy)), 'ok', 'exactly the maximum');
  t.equal(code(() => checkTokenPolicy({ amr: [], issuedAt: 1000, expiresAt: 1001 + 12 * 3600 }, policy)), 'AUTHN_TOKEN_LIFETIME');
  t.equal(code(() => checkTokenPolicy({ amr: [], expiresAt: 2000 }, policy)), 'AUTHN_TOKEN_LIFETIME', 'no iat');
  t.equal(code(() => checkTokenPolicy({ amr: [], expiresAt: 10 ** 10 }, { ...policy, maxTokenLifetimeSeconds: 0 })), 'ok', 'off');
});

t.test('MFA: any listed amr, or any listed acr', async (t) => {
  const amr = { maxTokenLifetimeSeconds: 0, requiredAmr: ['mfa', 'hwk'], requiredAcr: [] };
  t.equal(code(() => checkTokenPolicy({ amr: ['pwd', 'hwk'] }, amr)), 'ok');
  t.equal(code(() => checkTokenPolicy({ amr: ['pwd'] }, amr)), 'MFA_REQUIRED');
  const acr = { maxTokenLifetimeSeconds: 0, requiredAmr: [], requiredAcr: ['urn:mace:incommon:iap:silver'] };
  t.equal(code(() => checkTokenPolicy({ amr: ['mfa'] }, acr)), 'MFA_REQUIRED', 'amr does not satisfy an acr-only rule');
  t.equal(code(() => checkTokenPolicy({ amr: [], acr: 'urn:mace:incommon:iap:silver' }, acr)), 'ok');
  const both = { maxTokenLifetimeSeconds: 0, requiredAmr: ['mfa'], requiredAcr: ['gold'] };
  t.equal(code(() => checkTokenPolicy({ amr: ['mfa'] }, both)), 'ok');
  t.equal(code(() => checkTokenPolicy({ amr: [], acr: 'gold' }, both)), 'ok');
  t.equal(code(() => checkTokenPolicy({ amr: ['pwd'], acr: 'bronze' }, both)), 'MFA_REQUIRED');
  try {
    checkTokenPolicy({ amr: ['pwd'] }, amr);
  } catch (err) {
    t.equal((err as KubegateError).status, 403);
    t.match((err as KubegateError).message, /amr one of \[mfa, hwk\].*token has amr \[pwd\]/);
  }
});

t.test('service-account tokens are recognised by their claims', async (t) => {
  const key = new TextEncoder().encode('k'.repeat(32));
  const sign = (claims: Record<string, unknown>) => new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(key);
  t.ok(looksLikeServiceAccountToken(await sign({ iss: 'kubernetes/serviceaccount', 'kubernetes.io/serviceaccount/namespace': 'default' })), 'legacy secret token');
  t.ok(looksLikeServiceAccountToken(await sign({ iss: 'https://kubernetes.default.svc.cluster.local', sub: 'system:serviceaccount:a:b', 'kubernetes.io': { namespace: 'a', serviceaccount: { name: 'b', uid: 'u' } } })), 'bound token');
  t.notOk(looksLikeServiceAccountToken(await sign({ iss: 'https://login.example.com', sub: 'alice' })), 'an OIDC token');
  t.notOk(looksLikeServiceAccountToken('not.a.jwt'));
  t.notOk(looksLikeServiceAccountToken(await sign({ iss: 'x', 'kubernetes.io': 'string' })));
});
