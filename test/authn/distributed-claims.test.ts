/**
 * Distributed group claims (`_claim_names`/`_claim_sources`), as kube-apiserver resolves them for a
 * `groups.claim` mapping: the token names a source instead of carrying its groups; kubegate fetches the
 * source endpoint (https, bearer access_token) and uses the groups of the JWT it answers, which must verify
 * like the token itself. A failing source refuses the token.
 */
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parseAuthenticationConfiguration } from '../../src/authn/auth-config.js';
import { createJwtAuthenticator } from '../../src/authn/jwt.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { within } from '../support/wait.js';

t.test('groups from a distributed claim source', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const idp = await startJwksIssuer({ pki });
  t.teardown(() => idp.close());
  const key = await idp.addKey('k1');
  const other = await startJwksIssuer({ pki });
  t.teardown(() => other.close());
  const otherKey = await other.addKey('o1');

  // The "graph API": answers a JWT per access token; records the Authorization header it received.
  const answers = new Map<string, { status: number; body: string }>();
  const seenAuth: (string | undefined)[] = [];
  const serving = pki.server();
  const source = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    seenAuth.push(req.headers.authorization);
    const a = answers.get(req.headers.authorization ?? '') ?? { status: 404, body: 'no' };
    res.writeHead(a.status, { 'content-type': 'application/jwt' });
    res.end(a.body);
  });
  await new Promise<void>((resolve) => source.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => source.close(() => resolve())));
  const endpoint = `https://127.0.0.1:${(source.address() as AddressInfo).port}/groups`;

  const resolved = parseAuthenticationConfiguration(`apiVersion: apiserver.config.k8s.io/v1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: ${idp.issuer}
    audiences: [kubegate]
    certificateAuthority: |
${pki.ca.trim().split('\n').map((l) => `      ${l}`).join('\n')}
  claimMappings:
    username: {claim: sub, prefix: ''}
    groups: {claim: groups, prefix: 'corp:'}
`, { allowSystemNames: false });
  if (!resolved.ok) throw new Error(resolved.issues.join('\n'));
  const authn = createJwtAuthenticator(resolved.issuers, { log: captureLogger().log });
  t.teardown(() => authn.close());
  await within(authn.whenAllReady(), 10_000, 'the key set');

  const distributed = (accessToken: string) => ({
    _claim_names: { groups: 'src1' },
    _claim_sources: { src1: { endpoint, access_token: accessToken } },
  });
  const outcome = async (token: string) => {
    try {
      return { user: (await authn.authenticate(token)).user };
    } catch (err) {
      return { code: (err as { code: string }).code, message: (err as Error).message };
    }
  };

  answers.set('Bearer good', { status: 200, body: await idp.sign(key, { sub: 'alice', groups: ['g1', 'g2'] }) });
  t.same(await outcome(await idp.sign(key, { sub: 'alice', ...distributed('good') })), { user: { username: 'alice', groups: ['corp:g1', 'corp:g2'], extra: {} } });
  t.equal(seenAuth.at(-1), 'Bearer good', 'the source was asked with the access token');

  const before = seenAuth.length;
  t.same(await outcome(await idp.sign(key, { sub: 'bob', groups: ['direct'], ...distributed('good') })), { user: { username: 'bob', groups: ['corp:direct'], extra: {} } }, 'a groups claim in the token wins; the source is not asked');
  t.equal(seenAuth.length, before);

  answers.set('Bearer forged', { status: 200, body: await other.sign(otherKey, { iss: idp.issuer, sub: 'alice', groups: ['system:masters'] }) });
  t.match(await outcome(await idp.sign(key, { sub: 'alice', ...distributed('forged') })), { code: 'AUTHN_CLAIMS', message: /distributed claim "groups": the endpoint's JWT does not verify: token rejected: unknown key id "o1"/ });

  answers.set('Bearer nogroups', { status: 200, body: await idp.sign(key, { sub: 'alice' }) });
  t.match(await outcome(await idp.sign(key, { sub: 'alice', ...distributed('nogroups') })), { code: 'AUTHN_CLAIMS', message: /does not contain it/ });
  t.match(await outcome(await idp.sign(key, { sub: 'alice', ...distributed('unknown') })), { code: 'AUTHN_CLAIMS', message: /cannot be fetched: .*HTTP 404/ });
  t.match(await outcome(await idp.sign(key, { sub: 'alice', _claim_names: { groups: 'src9' }, _claim_sources: {} })), { code: 'AUTHN_CLAIMS', message: /_claim_sources has no source "src9"/ });
});
