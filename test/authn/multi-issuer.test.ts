/**
 * The JWT authenticator with two real issuers on loopback at once (discovery + JWKS over TLS, trusted
 * through the configuration's inline certificateAuthority): each token goes to its own issuer by `iss`,
 * one issuer being down never blocks the other, garbage and foreign tokens are 401 at once even while
 * every issuer is down, and each refusal says precisely why without the token.
 */
import t from 'tap';
import { parseAuthenticationConfiguration } from '../../src/authn/auth-config.js';
import { createJwtAuthenticator, type JwtAuthenticator } from '../../src/authn/jwt.js';
import { startJwksIssuer, type JwksIssuer } from '../support/jwks-issuer.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { eventually, within } from '../support/wait.js';

const indent = (pem: string, n: number) => pem.trim().split('\n').map((l) => `${' '.repeat(n)}${l}`).join('\n');

/** People from `corp` (email + groups, CEL prefix), pipelines from `ci` (repository claims). */
function configFor(ca: string, corp: JwksIssuer, ci: JwksIssuer, corpDiscovery?: string): string {
  return `apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: ${corp.issuer}
${corpDiscovery ? `    discoveryURL: ${corpDiscovery}\n` : ''}    audiences: [kubegate]
    certificateAuthority: |
${indent(ca, 6)}
  claimMappings:
    username: {claim: email, prefix: ''}
    groups: {expression: 'claims.?groups.orValue([]).map(g, "corp:" + g)'}
- issuer:
    url: ${ci.issuer}
    audiences: [kubegate, https://kubegate.example.com]
    audienceMatchPolicy: MatchAny
    certificateAuthority: |
${indent(ca, 6)}
  claimValidationRules:
  - expression: 'claims.repository.startsWith("acme/")'
    message: only acme repositories
  claimMappings:
    username: {expression: '"ci:" + claims.repository + ":" + claims.ref'}
    groups: {expression: '["ci:pipelines"]'}
    extra:
    - key: ci.example.com/run-id
      valueExpression: 'claims.run_id'
`;
}

async function setup(t: { teardown(fn: () => unknown): void }, o: { corpDown?: boolean; ciDown?: boolean; corpDiscovery?: (corp: JwksIssuer, ci: JwksIssuer) => string } = {}) {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const corp = await startJwksIssuer({ pki });
  const ci = await startJwksIssuer({ pki });
  t.teardown(() => corp.close());
  t.teardown(() => ci.close());
  const corpKey = await corp.addKey('corp-1');
  const ciKey = await ci.addKey('ci-1');
  if (o.corpDown) corp.setDiscoveryMode('fail');
  if (o.ciDown) ci.setDiscoveryMode('fail');
  const resolved = parseAuthenticationConfiguration(configFor(pki.ca, corp, ci, o.corpDiscovery?.(corp, ci)), { allowSystemNames: false });
  if (!resolved.ok) throw new Error(resolved.issues.join('\n'));
  const { log, lines } = captureLogger();
  const authn = createJwtAuthenticator(resolved.issuers, { log, retrySeconds: 0.05 });
  t.teardown(() => authn.close());
  return { corp, ci, corpKey, ciKey, authn, lines };
}

async function outcome(authn: JwtAuthenticator, token: string) {
  try {
    const { user, session } = await authn.authenticate(token);
    return { user, issuer: session.issuer };
  } catch (err) {
    const e = err as { code: string; message: string; details: Record<string, unknown> };
    return { code: e.code, message: e.message, details: e.details };
  }
}

t.test('two issuers at once: each token is verified by its own issuer and mapped by its own rules', async (t) => {
  const { corp, ci, corpKey, ciKey, authn } = await setup(t);
  await within(authn.whenAllReady(), 10_000, 'both key sets');
  t.same(await outcome(authn, await corp.sign(corpKey, { email: 'alice@example.com', groups: ['dev'] })), {
    user: { username: 'alice@example.com', groups: ['corp:dev'], extra: {} },
    issuer: corp.issuer,
  });
  const ciToken = await ci.sign(ciKey, { aud: 'https://kubegate.example.com', repository: 'acme/shop', ref: 'refs/heads/main', run_id: '42' });
  t.same(await outcome(authn, ciToken), {
    user: { username: 'ci:acme/shop:refs/heads/main', groups: ['ci:pipelines'], extra: { 'ci.example.com/run-id': ['42'] } },
    issuer: ci.issuer,
  }, 'any of the CI issuer\'s audiences (MatchAny)');
  t.match(await outcome(authn, await ci.sign(ciKey, { repository: 'evil/x', ref: 'r', run_id: '1' })), { code: 'AUTHN_CLAIMS', message: /only acme repositories/ });
  // A token signed by CI's key but claiming corp's iss: corp's key set has no such key.
  const forged = await ci.sign(ciKey, { iss: corp.issuer, email: 'mallory@example.com' });
  t.match(await outcome(authn, forged), { code: 'AUTHN_INVALID_TOKEN', message: /unknown key id "ci-1" for issuer/ });
  const status = authn.keyStatus();
  t.match(status, { ready: true, stale: false, issuers: { [corp.issuer]: { ready: true }, [ci.issuer]: { ready: true } } }, 'keyStatus per issuer');
});

t.test('issuer A down: tokens for B work, A\'s are 503, garbage and unknown issuers 401 at once', async (t) => {
  const { corp, ci, corpKey, ciKey, authn } = await setup(t, { corpDown: true });
  await within(authn.whenReady(), 10_000, 'the CI key set');
  t.equal(authn.ready(), true, 'ready with one issuer of two');
  t.match(await outcome(authn, await ci.sign(ciKey, { repository: 'acme/shop', ref: 'main', run_id: '7' })), { user: { username: 'ci:acme/shop:main' } });
  const corpToken = await corp.sign(corpKey, { email: 'alice@example.com' });
  t.match(await outcome(authn, corpToken), { code: 'AUTHN_PROVIDER_UNAVAILABLE', message: new RegExp(`keys of issuer ${corp.issuer.replace(/[.]/g, '\\.')} are not loaded`) });
  t.match(authn.keyStatus(), { ready: true, issuers: { [corp.issuer]: { ready: false, lastError: /discovery failed: .*HTTP 500/ }, [ci.issuer]: { ready: true } } });
  // The issuer comes back: its tokens work without a restart.
  corp.setDiscoveryMode('ok');
  const user = await eventually('corp to recover', async () => (await outcome(authn, corpToken)).user, 10_000);
  t.equal(user.username, 'alice@example.com');
});

t.test('every issuer down: a garbage or foreign token is 401 at once, a configured issuer\'s token 503', async (t) => {
  const { corp, corpKey, authn } = await setup(t, { corpDown: true, ciDown: true });
  t.equal(authn.ready(), false);
  for (const [name, token, message] of [
    ['not a JWT', 'garbage', /bearer token is not a JWT/],
    ['three segments, no JSON', 'aaaa.bbbb.cccc', /token rejected: /],
    ['no iss', `${b64({ alg: 'RS256' })}.${b64({ sub: 'x' })}.c2ln`, /has no iss claim/],
    ['unknown iss', `${b64({ alg: 'RS256' })}.${b64({ iss: 'https://other.example.com', sub: 'x' })}.c2ln`, /issuer "https:\/\/other\.example\.com" not configured/],
  ] as const) {
    const o = await within(outcome(authn, token), 1_000, `${name}: an answer without waiting for keys`);
    t.match(o, { code: 'AUTHN_INVALID_TOKEN', message }, name);
  }
  t.match(await outcome(authn, await corp.sign(corpKey, { email: 'a@example.com' })), { code: 'AUTHN_PROVIDER_UNAVAILABLE' });
});

t.test('refusal reasons are precise and never carry the token', async (t) => {
  const { corp, corpKey, authn } = await setup(t);
  await within(authn.whenAllReady(), 10_000, 'both key sets');
  const expired = await corp.sign(corpKey, { email: 'a@example.com', iat: 1_700_000_000, exp: 1_700_000_600 });
  const wrongAud = await corp.sign(corpKey, { email: 'a@example.com', aud: 'someone-else' });
  const other = await corp.addKey('corp-2', { publish: false });
  const unknownKid = await corp.sign(other, { email: 'a@example.com' });
  for (const [token, message, details] of [
    [expired, /^token rejected: expired at 2023-11-14T22:23:20\.000Z$/, { claim: 'exp' }],
    [wrongAud, /^token rejected: audience "someone-else" not accepted \(expected kubegate\)$/, { aud: 'someone-else' }],
    [unknownKid, /^token rejected: unknown key id "corp-2" for issuer https:/, { kid: 'corp-2' }],
  ] as const) {
    const o = await outcome(authn, token);
    t.match(o, { code: 'AUTHN_INVALID_TOKEN', message, details });
    t.notOk(JSON.stringify(o).includes(token.split('.')[2]!), 'no part of the token in the error');
  }
});

t.test('discoveryURL is where discovery is fetched; its issuer must be the configured url', async (t) => {
  const { authn, corp, ci } = await setup(t, { corpDiscovery: (_corp, ci) => `${ci.issuer}/.well-known/openid-configuration` });
  const status = await eventually('corp discovery to fail', () => authn.keyStatus().issuers?.[corp.issuer]?.lastError, 10_000);
  t.match(status, `is ${JSON.stringify(corp.issuer)}, the document says ${JSON.stringify(ci.issuer)}`);
});

function b64(o: unknown): string {
  return Buffer.from(JSON.stringify(o)).toString('base64url');
}
