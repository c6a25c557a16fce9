/**
 * The small pure pieces of the plugin: the exec credential protocol, the expiry margin, the authorization
 * request parameters (prompt, max_age, --auth-param), the browser command lines, and the loopback
 * callback server (state checked, stray requests ignored, timeout).
 */
import { request } from 'node:http';
import t from 'tap';
import { browserCommands } from '../../src/login/browser.js';
import { LoginError } from '../../src/login/errors.js';
import { EXEC_API_VERSION, execCredential, readExecInfo } from '../../src/login/exec-credential.js';
import { startLoopback } from '../../src/login/loopback.js';
import { authorizationParameters } from '../../src/login/oidc.js';
import { normalizeScopes } from '../../src/login/options.js';
import { decodeClaims, expiryMargin, isUsable, usableUntil } from '../../src/login/token.js';
import { within } from '../support/wait.js';

t.test('KUBERNETES_EXEC_INFO', async (t) => {
  t.same(readExecInfo({}), { apiVersion: EXEC_API_VERSION, interactive: true, fromKubectl: false }, 'run directly: may sign in');
  t.same(readExecInfo({ KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: EXEC_API_VERSION, kind: 'ExecCredential', spec: { interactive: false } }) }), { apiVersion: EXEC_API_VERSION, interactive: false, fromKubectl: true });
  t.same(readExecInfo({ KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: EXEC_API_VERSION, kind: 'ExecCredential', spec: { interactive: true } }) }).interactive, true);
  t.equal(readExecInfo({ KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: EXEC_API_VERSION, kind: 'ExecCredential', spec: {} }) }).interactive, false, 'no explicit true: not interactive');
  t.equal(readExecInfo({ KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1beta1', kind: 'ExecCredential', spec: { interactive: true } }) }).apiVersion, 'client.authentication.k8s.io/v1beta1', 'answers in the version asked');
  t.equal(readExecInfo({ KUBERNETES_EXEC_INFO: JSON.stringify({ apiVersion: 'something/v9', kind: 'ExecCredential' }) }).apiVersion, EXEC_API_VERSION);
  for (const bad of ['{', '[]', '{"kind":"Pod"}', 'null']) {
    const err = t.throws(() => readExecInfo({ KUBERNETES_EXEC_INFO: bad })) as unknown;
    t.equal((err as LoginError).code, 'EXEC_INFO_INVALID', bad);
  }
});

t.test('the ExecCredential', async (t) => {
  const cred = execCredential('a.b.c', 1_800_000_000.9);
  t.same(cred, { apiVersion: EXEC_API_VERSION, kind: 'ExecCredential', status: { token: 'a.b.c', expirationTimestamp: '2027-01-15T08:00:00Z' } });
  t.equal(execCredential('a.b.c', 1_800_000_000, 'client.authentication.k8s.io/v1beta1').apiVersion, 'client.authentication.k8s.io/v1beta1');
});

t.test('the expiry margin: 30 s, at most a quarter of the lifetime', async (t) => {
  t.equal(expiryMargin({ iat: 1000, exp: 1600 }), 30);
  t.equal(expiryMargin({ iat: 1000, exp: 1060 }), 15);
  t.equal(expiryMargin({ iat: 1000, exp: 1000 }), 0);
  t.equal(expiryMargin({ iat: 2000, exp: 1000 }), 0, 'nonsense times: no negative margin');
  t.equal(usableUntil({ iat: 1000, exp: 1600 }), 1570);
  t.ok(isUsable({ iat: 1000, exp: 1600 }, 1569_999));
  t.notOk(isUsable({ iat: 1000, exp: 1600 }, 1570_000), 'not at the margin');
  t.notOk(isUsable({ iat: 1000, exp: 1600 }, 1700_000));
  t.same(decodeClaims(`x.${Buffer.from('{"sub":"a"}').toString('base64url')}.y`), { sub: 'a' });
  for (const bad of ['', 'a.b', `x.${Buffer.from('[1]').toString('base64url')}.y`, 'x.!!!.y']) t.equal(decodeClaims(bad), undefined, bad);
});

t.test('authorization request parameters', async (t) => {
  const p = (scopes: string[], force: boolean, authParams: Record<string, string> = {}) => authorizationParameters({ scopes: normalizeScopes(scopes), force, authParams });
  t.same(p([], false), {});
  t.same(p(['offline_access'], false), { prompt: 'consent' }, 'offline_access: consent (OIDC Core 11)');
  t.same(p([], true), { prompt: 'login', max_age: '0' });
  t.same(p(['offline_access'], true), { prompt: 'login consent', max_age: '0' });
  t.same(p(['offline_access'], false, { prompt: '' }), {}, '--auth-param prompt= sends no prompt');
  t.same(p(['offline_access'], false, { prompt: 'select_account', access_type: 'offline' }), { prompt: 'select_account', access_type: 'offline' });
  t.same(p([], true, { prompt: 'none', max_age: '3600' }), { prompt: 'login', max_age: '0' }, '--force wins over prompt=none and max_age');
  t.same(normalizeScopes(['groups', ' openid ', '', 'groups', 'email']), ['openid', 'groups', 'email']);
});

t.test('browser command lines', async (t) => {
  const url = 'https://idp.example/auth?a=1&b=2';
  t.same(browserCommands(url, { BROWSER: 'firefox' }, 'linux'), [['firefox', url]]);
  t.same(browserCommands(url, { BROWSER: 'w3m:lynx' }, 'linux'), [['w3m', url], ['lynx', url]]);
  t.same(browserCommands(url, { BROWSER: 'chromium --new-window %s --incognito' }, 'linux'), [['chromium', '--new-window', url, '--incognito']]);
  t.same(browserCommands(url, {}, 'linux'), [['xdg-open', url]]);
  t.same(browserCommands(url, {}, 'darwin'), [['open', url]]);
  t.same(browserCommands(url, { BROWSER: '' }, 'linux'), [['xdg-open', url]]);
});

function get(url: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    request(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => (body += c)).on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    }).on('error', reject).end();
  });
}

t.test('the loopback callback: only the expected state ends the wait', async (t) => {
  const loop = await startLoopback(0);
  t.teardown(() => loop.close());
  t.match(loop.redirectUri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  const base = loop.redirectUri.replace('/callback', '');
  const waiting = loop.waitForCallback({ state: 'expected', timeoutMs: 10_000 });
  const stray = await get(`${base}/favicon.ico`);
  t.equal(stray.status, 404);
  const forged = await get(`${loop.redirectUri}?code=evil&state=forged`);
  t.equal(forged.status, 400, 'a wrong state is refused');
  t.match(forged.body, /not the sign-in kubegate is waiting for/);
  t.equal(forged.headers['content-security-policy'], "default-src 'none'");
  const answer = get(`${loop.redirectUri}?code=good&state=expected`);
  const cb = await within(waiting, 5000, 'the callback');
  t.equal(cb.url.searchParams.get('code'), 'good');
  cb.respond(true, 'You are <signed in>.');
  const page = await answer;
  t.equal(page.status, 200);
  t.match(page.body, 'You are &#60;signed in&#62;.', 'escaped');
  const late = await get(`${loop.redirectUri}?code=again&state=expected`);
  t.equal(late.status, 409, 'a second callback finds nobody waiting');
});

t.test('the loopback callback: timeout, interruption, a port in use', async (t) => {
  const loop = await startLoopback(0);
  t.teardown(() => loop.close());
  const err = await loop.waitForCallback({ state: 's', timeoutMs: 50 }).catch((e: unknown) => e);
  t.equal((err as LoginError).code, 'LOGIN_TIMEOUT');
  const abort = new AbortController();
  const waiting = loop.waitForCallback({ state: 's', timeoutMs: 10_000, signal: abort.signal }).catch((e: unknown) => e);
  abort.abort();
  t.equal(((await waiting) as LoginError).code, 'INTERRUPTED');
  const port = Number(new URL(loop.redirectUri).port);
  const taken = await startLoopback(port).catch((e: unknown) => e);
  t.equal((taken as LoginError).code, 'LOOPBACK_FAILED');
  t.match((taken as Error).message, /in use: choose another --listen-port/);
});
