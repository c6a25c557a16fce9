/**
 * login() in-process against a real OpenID provider on loopback, with an injected clock and the test
 * browser driving the provider's sign-in pages: refresh on expiry, a failed refresh falling back to a
 * sign-in, the expiry margin, non-interactive runs, `--force` (prompt=login, max_age=0, a fresh auth_time
 * even with a live single sign-on session), a confidential client, and ID tokens that must not verify
 * (forged signature, wrong nonce, aud or iss) — none of which is cached.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { LoginError } from '../../src/login/errors.js';
import { issuerFetch, type IssuerFetch } from '../../src/net/issuer-fetch.js';
import { login, type LoginDeps, type LoginResult } from '../../src/login/login.js';
import { normalizeScopes, type LoginOptions } from '../../src/login/options.js';
import { TestBrowser, type BrowseResult } from './support/browser.js';
import { ACCOUNTS, claimsOf } from './support/world.js';
import { startTestIssuer, type TestIssuer } from '../support/oidc-issuer.js';
import { readFileSync } from 'node:fs';

interface Rig {
  issuer: TestIssuer;
  ca: string;
  cacheDir: string;
  browser: TestBrowser;
  /** Every walk the browser made, in order. */
  walks: Promise<BrowseResult>[];
  progress: string[];
  /** Seconds added to the real clock for the cache's idea of now. */
  skew: number;
  opts(extra?: Partial<LoginOptions>): LoginOptions;
  deps(extra?: Partial<LoginDeps>): LoginDeps;
  run(extra?: Partial<LoginOptions>, deps?: Partial<LoginDeps>): Promise<LoginResult>;
  paths(): string[];
}

async function rig(t: Test, issuerOpts: Parameters<typeof startTestIssuer>[0] = {}): Promise<Rig> {
  const issuer = await startTestIssuer({ interactive: { accounts: ACCOUNTS }, ...issuerOpts });
  const cacheDir = join(mkdtempSync(join(tmpdir(), 'kubegate-login-')), 'cache');
  t.teardown(async () => {
    await issuer.close();
    rmSync(join(cacheDir, '..'), { recursive: true, force: true });
  });
  const ca = readFileSync(issuer.caFile, 'utf8');
  const browser = new TestBrowser({ ca, login: 'alice' });
  const r: Rig = {
    issuer,
    ca,
    cacheDir,
    browser,
    walks: [],
    progress: [],
    skew: 0,
    opts: (extra = {}) => ({
      issuer: issuer.issuer,
      clientId: issuer.clientId,
      scopes: normalizeScopes(['email', 'groups', 'offline_access']),
      caFile: issuer.caFile,
      listenPort: 0,
      grant: 'code',
      force: false,
      authParams: {},
      cacheDir,
      ...extra,
    }),
    deps: (extra = {}) => ({
      now: () => Date.now() + r.skew * 1000,
      interactive: true,
      progress: (line) => r.progress.push(line),
      openBrowser: async (url) => {
        r.walks.push(r.browser.open(url));
        return 'test browser';
      },
      defaultCacheDir: '/nonexistent',
      ca,
      loginCommand: 'kubegate login --issuer X --client-id Y',
      callbackTimeoutMs: 20_000,
      lockTimeoutMs: 20_000,
      ...extra,
    }),
    run: (extra, deps) => login(r.opts(extra), r.deps(deps)),
    paths: () => issuer.requests.map((q) => `${q.method} ${q.path}`),
  };
  return r;
}

t.test('refresh on expiry (injected clock); a revoked refresh token falls back to a sign-in', async (t) => {
  const r = await rig(t);
  const first = await r.run();
  t.equal(first.source, 'login');
  t.equal(r.walks.length, 1);
  const firstClaims = claimsOf(first.idToken);
  t.equal(first.expiresAt, (firstClaims.exp as number) - 30, 'handed out until exp minus the 30 s margin');

  // Still valid: from the cache, nothing contacted.
  let before = r.issuer.requests.length;
  t.equal((await r.run()).source, 'cache');
  t.equal(r.issuer.requests.length, before, 'a cache hit contacts nothing');

  // Inside the margin (20 s before exp by the injected clock): refreshed, no browser.
  r.skew = (firstClaims.exp as number) - 20 - Date.now() / 1000;
  before = r.issuer.requests.length;
  const refreshed = await r.run();
  t.equal(refreshed.source, 'refresh');
  t.equal(claimsOf(refreshed.idToken).sub, 'alice');
  t.equal(r.walks.length, 1, 'no browser');
  t.same(r.paths().slice(before), ['GET /.well-known/openid-configuration', 'POST /token', 'GET /jwks'], 'discovery, one refresh grant, the keys to verify the new token');
  r.skew = 0;
  t.equal((await r.run()).idToken, refreshed.idToken, 'the refreshed token is cached');

  // The identity provider revokes the refresh tokens: refresh fails, a sign-in follows.
  t.ok(r.issuer.revokeRefreshTokens() >= 1);
  r.skew = 3600;
  const again = await r.run();
  t.equal(again.source, 'login');
  t.equal(r.walks.length, 2, 'the browser was opened again');
  t.match(r.progress.join('\n'), /Could not refresh the cached login \(the refresh: the identity provider answered HTTP 400 invalid_grant/);
  await Promise.all(r.walks);
});

t.test('non-interactive runs: refresh is fine, a sign-in is refused with the command to run', async (t) => {
  const r = await rig(t);
  const nonInteractive = { interactive: false };

  const refused = await r.run({}, nonInteractive).catch((e: unknown) => e);
  t.type(refused, LoginError);
  t.equal((refused as LoginError).code, 'LOGIN_REQUIRED');
  t.match((refused as LoginError).message, /there is no valid cached login.*\n\n {2}kubegate login --issuer X --client-id Y\n/s);
  t.equal(r.issuer.requests.length, 0, 'nothing contacted');
  t.equal(r.walks.length, 0, 'no browser');

  await r.run();
  r.skew = 3600;
  const refreshed = await r.run({}, nonInteractive);
  t.equal(refreshed.source, 'refresh', 'an expired token with a refresh token: refreshed without the person');

  r.issuer.revokeRefreshTokens();
  r.skew = 7200;
  const failed = await r.run({}, nonInteractive).catch((e: unknown) => e);
  t.equal((failed as LoginError).code, 'LOGIN_REQUIRED');
  t.match((failed as LoginError).message, /the cached login could not be refreshed/);
  t.equal(((failed as LoginError).cause as LoginError).code, 'AUTHORIZATION_FAILED');
  t.equal(r.walks.length, 1, 'still no second browser');

  r.skew = 0;
  const forced = await r.run({ force: true }, nonInteractive).catch((e: unknown) => e);
  t.equal((forced as LoginError).code, 'LOGIN_REQUIRED', '--force needs the person too');
  t.match((forced as LoginError).message, /a fresh sign-in was asked for \(--force\)/);
});

t.test('--force: prompt=login and max_age=0, a fresh login even with a single sign-on session', async (t) => {
  const r = await rig(t);
  const scopes = normalizeScopes(['email', 'groups']);
  const first = await r.run({ scopes });
  const firstWalk = await r.walks[0]!;
  t.same(firstWalk.steps.map((s) => s.form).filter(Boolean), ['login', 'consent']);

  // Without --force, a new sign-in rides on the provider's session: no login form.
  rmSync(r.cacheDir, { recursive: true });
  await r.run({ scopes });
  t.notOk((await r.walks[1]!).steps.some((s) => s.form === 'login'), 'single sign-on: no login form');

  // --force ignores the valid cached token and makes the provider ask again.
  await new Promise((resolve) => setTimeout(resolve, 1100)); // auth_time has a 1 s resolution
  const startedAt = Math.floor(Date.now() / 1000);
  const forced = await r.run({ scopes, force: true });
  t.equal(forced.source, 'login');
  t.not(forced.idToken, first.idToken);
  const auth = r.issuer.requests.filter((q) => q.path === '/auth').at(-1)!;
  t.equal(auth.query.prompt, 'login');
  t.equal(auth.query.max_age, '0');
  t.ok((await r.walks[2]!).steps.some((s) => s.form === 'login'), 'the login form was shown again');
  const authTime = claimsOf(forced.idToken).auth_time as number;
  t.ok(authTime >= startedAt, `auth_time ${authTime} is fresh (>= ${startedAt})`);

  // With offline_access, the consent prompt stays alongside login.
  await r.run({ force: true });
  const withOffline = r.issuer.requests.filter((q) => q.path === '/auth').at(-1)!;
  t.equal(withOffline.query.prompt, 'login consent');
  await Promise.all(r.walks);
});

t.test('--listen-port: the redirect URI uses exactly that port', async (t) => {
  const r = await rig(t);
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  await r.run({ listenPort: port });
  t.equal(r.issuer.requests.find((q) => q.path === '/auth')!.query.redirect_uri, `http://127.0.0.1:${port}/callback`);
  await Promise.all(r.walks);
});

t.test('a confidential client (--client-secret)', async (t) => {
  const r = await rig(t, { interactive: { accounts: ACCOUNTS, confidentialClient: { clientId: 'kubegate-confidential', clientSecret: 's3cret-value' } } });
  const ok = await r.run({ clientId: 'kubegate-confidential', clientSecret: 's3cret-value' });
  t.equal(claimsOf(ok.idToken).aud, 'kubegate-confidential');
  rmSync(r.cacheDir, { recursive: true });
  const bad = await r.run({ clientId: 'kubegate-confidential', clientSecret: 'wrong' }).catch((e: unknown) => e);
  t.equal((bad as LoginError).code, 'AUTHORIZATION_FAILED');
  t.match((bad as LoginError).message, /invalid_client/);
  await Promise.allSettled(r.walks);
});

t.test('ID tokens that do not verify are neither returned nor cached', async (t) => {
  const r = await rig(t);
  const mutations: [string, (claims: Record<string, unknown>) => Promise<string>][] = [
    ['forged signature', (c) => r.issuer.forge(c)],
    ['wrong nonce', (c) => r.issuer.signWithProviderKey({ ...c, nonce: 'not-the-nonce' })],
    ['wrong aud', (c) => r.issuer.signWithProviderKey({ ...c, aud: 'someone-else' })],
    ['wrong iss', (c) => r.issuer.signWithProviderKey({ ...c, iss: 'https://evil.example' })],
    ['expired', (c) => r.issuer.signWithProviderKey({ ...c, iat: (c.iat as number) - 7200, exp: (c.exp as number) - 7200 })],
  ];
  for (const [name, mutate] of mutations) {
    const tamper: IssuerFetch = async (url, init) => {
      const res = await issuerFetch(r.ca)(url, init);
      if (!url.endsWith('/token') || res.status !== 200) return res;
      const body = (await res.json()) as Record<string, unknown>;
      body.id_token = await mutate(claimsOf(body.id_token as string));
      return new Response(JSON.stringify(body), { status: 200, headers: { 'content-type': 'application/json' } });
    };
    const err = await r.run({}, { fetch: tamper }).catch((e: unknown) => e);
    t.type(err, LoginError, name);
    t.equal((err as LoginError).code, 'TOKEN_INVALID', `${name}: ${(err as Error).message}`);
    t.same(readdirSync(r.cacheDir).filter((f) => f.endsWith('.json')), [], `${name}: nothing cached`);
  }
  const walks = await Promise.all(r.walks);
  t.match(walks[0]!.body, /Sign-in failed/, 'the browser was told the sign-in failed');
});

t.test('the issuer is unreachable or not the one configured', async (t) => {
  const r = await rig(t);
  const wrongCa = await r.run({}, { ca: '-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUP\n-----END CERTIFICATE-----\n' }).catch((e: unknown) => e);
  t.equal((wrongCa as LoginError).code, 'ISSUER_UNREACHABLE');
  const gone = await r.run({ issuer: 'https://127.0.0.1:1' }).catch((e: unknown) => e);
  t.equal((gone as LoginError).code, 'ISSUER_UNREACHABLE');
  t.match((gone as Error).message, /ECONNREFUSED/);
  const other = await r.run({ issuer: `${r.issuer.issuer}/tenant-b` }).catch((e: unknown) => e);
  t.equal((other as LoginError).code, 'ISSUER_INVALID', 'no discovery document there');
  t.match((other as Error).message, /discovery of .*\/tenant-b/);
  t.equal(r.walks.length, 0);
});
