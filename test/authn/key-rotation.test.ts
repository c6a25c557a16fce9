/**
 * The issuer's key set: loaded once and cached between requests, refetched when a token names an unknown
 * `kid` (the issuer rotated its keys), and not refetched again for every unknown kid (rate-limited by
 * a cooldown, 30 s by default: the rotation case runs with no cooldown so it needs no waiting). A small discovery + JWKS server on loopback stands in for the issuer so its
 * keys can be rotated; everything else is the real authenticator.
 */
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createOidcAuthenticator } from '../../src/authn/oidc.js';
import { silentLogger } from '../../src/log/logger.js';
import { createPki } from '../support/pki.js';

async function key(kid: string): Promise<{ privateKey: CryptoKey; jwk: JWK }> {
  const pair = await generateKeyPair('RS256', { extractable: true });
  return { privateKey: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

t.test('JWKS: cached, refetched on an unknown kid, rate-limited', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  let published = [await key('key-a')];
  let jwksFetches = 0;
  let issuer = '';
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    if (req.url === '/jwks') jwksFetches++;
    const body = req.url === '/.well-known/openid-configuration'
      ? { issuer, jwks_uri: `${issuer}/jwks`, authorization_endpoint: `${issuer}/auth`, response_types_supported: ['id_token'], subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }
      : { keys: published.map((k) => k.jwk) };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const authenticator = async (jwksCooldownSeconds?: number) => {
    const authn = createOidcAuthenticator(
      { issuerUrl: issuer, clientId: 'kubegate', ca: pki.ca, signingAlgs: ['RS256'], requiredClaims: {}, clockSkewSeconds: 10, jwksCooldownSeconds, mapping: { issuerUrl: issuer, usernameClaim: 'email', groupsPrefix: '', extraClaims: {}, allowSystemNames: false } },
      silentLogger(),
    );
    t.teardown(() => authn.close());
    await authn.whenReady();
    return authn;
  };
  const authn = await authenticator(0);
  const sign = (k: { privateKey: CryptoKey; jwk: JWK }, email: string) =>
    new SignJWT({ email }).setProtectedHeader({ alg: 'RS256', kid: k.jwk.kid! }).setIssuer(issuer).setAudience('kubegate').setIssuedAt().setExpirationTime('10m').sign(k.privateKey);

  const a = published[0]!;
  for (let i = 0; i < 5; i++) t.equal((await authn.authenticate(await sign(a, `user${i}@example.com`))).username, `user${i}@example.com`);
  t.equal(jwksFetches, 1, 'five different tokens, one key-set fetch: keys are cached');

  const b = await key('key-b');
  published = [b];
  t.equal((await authn.authenticate(await sign(b, 'after-rotation@example.com'))).username, 'after-rotation@example.com', 'a token from the rotated key is accepted');
  t.equal(jwksFetches, 2, 'the unknown kid triggered one refetch');

  // With the default cooldown, a burst of tokens with unknown kids right after the key set was loaded
  // causes no further fetch (an attacker cannot make kubegate hammer the issuer).
  const limited = await authenticator();
  const fetchesAfterLoad = jwksFetches;
  const stranger = await key('key-unknown');
  for (let i = 0; i < 3; i++) {
    await t.rejects(limited.authenticate(await sign(stranger, `x${i}@example.com`)), { code: 'AUTHN_INVALID_TOKEN' }, 'an unknown key is refused');
  }
  t.equal(jwksFetches, fetchesAfterLoad, 'unknown kids within the cooldown do not refetch');
});
