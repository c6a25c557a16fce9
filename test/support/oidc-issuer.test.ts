import { get } from 'node:https';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';

import { startTestIssuer } from './oidc-issuer.js';

function getJson<T>(url: string, ca: string): Promise<T> {
  return new Promise((resolve, reject) => {
    get(url, { ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        if (res.statusCode !== 200) reject(new Error(`GET ${url}: HTTP ${res.statusCode} ${body}`));
        else resolve(JSON.parse(body) as T);
      });
    }).on('error', reject);
  });
}

t.test('test OIDC issuer', async (t) => {
  const started = Date.now();
  const idp = await startTestIssuer();
  t.teardown(() => idp.close());
  t.comment(`issuer ${idp.issuer} started in ${Date.now() - started}ms`);

  t.match(idp.issuer, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.equal(idp.clientId, 'kubegate');
  const ca = readFileSync(idp.caFile, 'utf8');

  const discovery = await getJson<{ issuer: string; jwks_uri: string; id_token_signing_alg_values_supported: string[] }>(
    `${idp.issuer}/.well-known/openid-configuration`, ca);
  t.equal(discovery.issuer, idp.issuer, 'discovery issuer is exact');
  t.ok(discovery.jwks_uri.startsWith(`${idp.issuer}/`), 'jwks_uri on the same origin');
  t.ok(discovery.id_token_signing_alg_values_supported.includes('RS256'));

  const jwks = await getJson<JSONWebKeySet>(discovery.jwks_uri, ca);
  t.ok(jwks.keys.length >= 1);
  t.notOk(jwks.keys.some((k) => 'd' in k), 'JWKS exposes no private material');
  const keySet = createLocalJWKSet(jwks);

  const token = await idp.mintIdToken({
    sub: 'alice',
    claims: { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'], name: 'Alice', tenant: 'acme' },
  });
  t.equal(decodeProtectedHeader(token).alg, 'RS256');
  const { payload } = await jwtVerify(token, keySet, { issuer: idp.issuer, audience: 'kubegate' });
  t.equal(payload.sub, 'alice');
  t.equal(payload.email, 'alice@example.com');
  t.equal(payload.email_verified, true);
  t.same(payload.groups, ['dev', 'ops']);
  t.equal(payload.name, 'Alice');
  t.equal(payload.tenant, 'acme', 'custom claims pass through');
  t.type(payload.exp, 'number');

  // concurrent mints for the same sub keep their own claims
  const [a, b] = await Promise.all([
    idp.mintIdToken({ sub: 'bob', claims: { groups: ['a'] } }),
    idp.mintIdToken({ sub: 'bob', claims: { groups: ['b'] } }),
  ]);
  t.same((await jwtVerify(a, keySet)).payload.groups, ['a']);
  t.same((await jwtVerify(b, keySet)).payload.groups, ['b']);

  await t.rejects(idp.mintIdToken({ sub: 'alice', clientId: 'not-registered' }), /mintIdToken failed/);

  const now = Math.floor(Date.now() / 1000);
  const expired = await idp.signWithProviderKey({ iss: idp.issuer, aud: 'kubegate', sub: 'alice', iat: now - 600, exp: now - 300 });
  await t.rejects(jwtVerify(expired, keySet), { code: 'ERR_JWT_EXPIRED' });
  const wrongAud = await idp.signWithProviderKey({ iss: idp.issuer, aud: 'other', sub: 'alice', exp: now + 300 });
  t.ok((await jwtVerify(wrongAud, keySet)).payload, 'provider-key signature verifies');
  await t.rejects(jwtVerify(wrongAud, keySet, { audience: 'kubegate' }), { code: 'ERR_JWT_CLAIM_VALIDATION_FAILED' });

  const forged = await idp.forge({ sub: 'mallory', groups: ['system:masters'] });
  t.equal(decodeProtectedHeader(forged).kid, decodeProtectedHeader(token).kid, 'forgery reuses the provider kid');
  await t.rejects(jwtVerify(forged, keySet, { issuer: idp.issuer, audience: 'kubegate' }), {
    code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  });
});
