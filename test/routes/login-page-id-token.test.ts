/**
 * The sign-in page trusts only ID tokens that verify: signature against the issuer's key set, iss, aud,
 * nonce and expiry (openid-client, with its non-repudiation checks on). A scripted identity provider of this
 * test's own (discovery, JWKS, a token endpoint that returns whatever ID token the case needs) on loopback.
 */
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type JWTPayload } from 'jose';
import { createLoginPage } from '../../src/routes/login-page.js';
import { createPki } from '../support/pki.js';
import { cookiePair, fetchText, oidcClaimMapper, startPageServer } from './login-page-support.js';

t.test('ID token verification on the sign-in page', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const attacker = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };

  // What the token endpoint answers next: an ID token made from the nonce the page sent.
  let idTokenFor: (nonce: string) => Promise<string> = async () => '';
  let lastNonce = '';
  const tls = pki.server('scripted-idp');
  const idp = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', issuer);
    const json = (body: unknown) => {
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json({
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        code_challenge_methods_supported: ['S256'],
      });
    }
    if (url.pathname === '/jwks') return json({ keys: [jwk] });
    if (url.pathname === '/token' && req.method === 'POST') {
      req.resume();
      req.on('end', () => void idTokenFor(lastNonce).then((id_token) => json({ access_token: 'at', token_type: 'Bearer', expires_in: 60, id_token })));
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  const issuer = `https://127.0.0.1:${(idp.address() as AddressInfo).port}`;
  t.teardown(() => new Promise<void>((resolve) => { idp.close(() => resolve()); idp.closeAllConnections(); }));

  const site = await startPageServer(pki);
  t.teardown(() => site.close());
  const page = createLoginPage(
    {
      issuerUrl: issuer,
      issuerCa: pki.ca,
      publicUrl: site.url,
      clientId: 'page',
      clientSecret: 's',
      clientAuthMethod: 'client_secret_basic',
      scopes: ['openid', 'email'],
      requiredClaims: {},
      signingAlgs: ['RS256'],
      flowTimeoutSeconds: 600,
      kubeconfig: { name: 'k', server: site.url, command: 'kubegate', issuerUrl: issuer, clientId: 'page', scopes: ['openid'], authParams: {}, extraArgs: [], installCommand: 'x' },
    },
    { mapClaims: oidcClaimMapper({ issuerUrl: issuer, usernameClaim: 'email', groupsPrefix: '', extraClaims: {} }) },
  );
  t.teardown(() => page.close());
  site.serve(page);

  const now = () => Math.floor(Date.now() / 1000);
  const good = (nonce: string): JWTPayload => ({ iss: issuer, aud: 'page', sub: 'u1', email: 'u1@example.com', nonce, iat: now(), exp: now() + 300 });
  const sign = (payload: JWTPayload, key = privateKey) => new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key);

  const cases: [string, (nonce: string) => Promise<string>, number, string | undefined][] = [
    ['a good token', (n) => sign(good(n)), 200, undefined],
    ['a forged signature', (n) => sign(good(n), attacker.privateKey), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['another audience', (n) => sign({ ...good(n), aud: 'someone-else' }), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['another issuer', (n) => sign({ ...good(n), iss: 'https://evil.example' }), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['another nonce', (n) => sign({ ...good(n), nonce: `${n}x` }), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['no nonce', (n) => sign({ ...good(n), nonce: undefined }), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['expired', (n) => sign({ ...good(n), iat: now() - 900, exp: now() - 600 }), 502, 'LOGIN_ID_TOKEN_INVALID'],
    ['unsigned (alg none)', async (n) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify(good(n))).toString('base64url')}.`, 502, 'LOGIN_ID_TOKEN_INVALID'],
  ];
  for (const [name, make, status, code] of cases) {
    const start = await fetchText(`${site.url}/kubegate/login`, { ca: pki.ca });
    const location = new URL(start.headers.location!);
    lastNonce = location.searchParams.get('nonce')!;
    idTokenFor = make;
    const cookie = cookiePair(([] as string[]).concat(start.headers['set-cookie'] ?? [])[0]!);
    const answer = await fetchText(`${site.url}/kubegate/login/callback?code=c&state=${location.searchParams.get('state')}`, { ca: pki.ca, headers: { cookie } });
    t.equal(answer.status, status, `${name}: HTTP ${status}`);
    t.equal(answer.headers['kubegate-error'], code, `${name}: ${code ?? 'signed in'}`);
  }
});
