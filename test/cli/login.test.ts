/**
 * `kubegate login` as kubectl runs it: the real command line (bin/kubegate in a child process) against a
 * real OpenID provider on loopback (oidc-provider with its dev sign-in pages), with `$BROWSER` set to a
 * scripted browser that signs in as alice and follows the redirect to the plugin's loopback callback.
 *
 * Covers: the code flow end to end and the ExecCredential field by field; nothing but it on stdout; the
 * cache (files 0600 in a 0700 directory; a second run contacts nothing); two processes at once (one sign-in,
 * the same token); `interactive: false` (no browser, a message with the command to run); the device flow
 * (the user code read from stderr, approved through the provider's pages); `logout`; and that the token is
 * written to no file but the cache.
 */
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { kubegate, startKubegate } from './cli-harness.js';
import { TestBrowser } from '../login/support/browser.js';
import { claimsOf, parseExecCredential, startLoginWorld } from '../login/support/world.js';
import { eventually, within } from '../support/wait.js';
import { issuerFetch } from '../../src/net/issuer-fetch.js';

const NOT_INTERACTIVE = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: false } });
const INTERACTIVE = JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', spec: { interactive: true } });

/** Every file under `dir` whose content includes `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    if (readFileSync(full, 'utf8').includes(needle)) out.push(full);
  }
  return out;
}

t.test('code flow: one ExecCredential on stdout, cached 0600/0700, a second run contacts nothing', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  const scopes = ['--scopes', 'email,groups,offline_access'];

  const started = Date.now();
  const first = await kubegate(world.loginArgs(...scopes), world.env({ KUBERNETES_EXEC_INFO: INTERACTIVE }));
  const firstMs = Date.now() - started;
  t.equal(first.code, 0, first.stderr);
  t.comment(`first run (sign-in through the browser) took ${firstMs} ms`);

  // stdout: exactly one ExecCredential, field by field
  const cred = parseExecCredential(first.stdout);
  t.same(Object.keys(cred).sort(), ['apiVersion', 'kind', 'status']);
  t.equal(cred.apiVersion, 'client.authentication.k8s.io/v1');
  t.equal(cred.kind, 'ExecCredential');
  t.same(Object.keys(cred.status).sort(), ['expirationTimestamp', 'token']);
  t.match(cred.status.expirationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/, 'RFC 3339, UTC, no fraction');
  const claims = claimsOf(cred.status.token);
  t.ok(Date.parse(cred.status.expirationTimestamp) / 1000 <= (claims.exp as number), 'expirationTimestamp is no later than exp');
  t.ok(Date.parse(cred.status.expirationTimestamp) / 1000 >= (claims.exp as number) - 30, 'and at most the 30 s margin earlier');
  // the token is a real, verifiable ID token for alice from this issuer and client
  const jwks = createLocalJWKSet(await (await issuerFetch(world.ca)(`${world.issuer.issuer}/jwks`, {})).json() as JSONWebKeySet);
  const { payload } = await jwtVerify(cred.status.token, jwks, { issuer: world.issuer.issuer, audience: 'kubegate' });
  t.equal(payload.sub, 'alice');
  t.equal(payload.email, 'alice@example.com');
  t.same(payload.groups, ['developers', 'on-call']);
  t.type(payload.nonce, 'string', 'the code flow sent a nonce');

  // stderr: the URL and progress; the authorization request as the issue specifies
  t.match(first.stderr, /https:\/\/127\.0\.0\.1:\d+\/auth\?/);
  const auth = world.issuer.requests.find((r) => r.path === '/auth');
  t.ok(auth, 'one authorization request');
  t.match(auth!.query.redirect_uri, /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  t.equal(auth!.query.response_type, 'code');
  t.equal(auth!.query.code_challenge_method, 'S256');
  t.ok(auth!.query.code_challenge && auth!.query.state && auth!.query.nonce);
  t.equal(auth!.query.scope, 'openid email groups offline_access', 'every scope given, openid first');
  t.equal(auth!.query.prompt, 'consent', 'offline_access asks for consent (OIDC Core 11)');
  t.notOk('max_age' in auth!.query);
  const runs = world.browserRuns();
  t.equal(runs.length, 1, 'the browser ran once');
  t.same(runs[0]!.steps!.map((s) => s.form).filter(Boolean), ['login', 'consent'], 'it signed in and consented');
  t.match(runs[0]!.steps!.at(-1), { method: 'GET', path: '/callback', status: 200 }, 'the loopback answered the browser');

  // the cache: one entry, 0600 in a 0700 directory, nothing else left behind
  t.equal(statSync(world.cacheDir).mode & 0o777, 0o700);
  const files = readdirSync(world.cacheDir);
  t.equal(files.length, 1, `only the entry: ${files.join(' ')}`);
  t.match(files[0], /^[0-9a-f]{64}\.json$/);
  t.equal(statSync(join(world.cacheDir, files[0]!)).mode & 0o777, 0o600);
  const entry = JSON.parse(readFileSync(join(world.cacheDir, files[0]!), 'utf8')) as Record<string, unknown>;
  t.equal(entry.idToken, cred.status.token);
  t.type(entry.refreshToken, 'string', 'offline_access gave a refresh token');
  t.same(entry.scopes, ['email', 'groups', 'offline_access', 'openid']);

  // a second run: from the cache, contacting nothing
  const before = world.issuer.requests.length;
  const t0 = Date.now();
  const second = await kubegate(world.loginArgs('--scopes', 'offline_access,groups', '--scopes', 'email'), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.comment(`cache hit run took ${Date.now() - t0} ms (process start included)`);
  t.equal(second.code, 0, second.stderr);
  t.equal(parseExecCredential(second.stdout).status.token, cred.status.token, 'same scopes in another order and spelling: same entry');
  t.equal(second.stderr, '', 'a cache hit says nothing');
  t.equal(world.issuer.requests.length, before, 'a cache hit made no request to the issuer (no discovery, no JWKS)');
  t.equal(world.browserRuns().length, 1, 'and opened no browser');

  // the token is in no file but the cache
  const holders = [...filesContaining(world.home, cred.status.token)];
  t.same(holders, [join(world.cacheDir, files[0]!)], 'only the cache file holds the token');
  t.same(filesContaining(join(world.issuer.caFile, '..'), cred.status.token), []);
  t.notOk(JSON.stringify(world.browserRuns()).includes(cred.status.token), 'nor the browser log');

  // other scopes are another entry: not a hit
  const other = await kubegate(world.loginArgs('--scopes', 'email'), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.equal(other.code, 1);
  t.equal(other.stdout, '');
});

t.test('interactive: false with nothing cached: no browser, no request, the command to run', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  const r = await kubegate(world.loginArgs('--scopes', 'groups'), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.equal(r.code, 1);
  t.equal(r.stdout, '', 'nothing on stdout');
  t.match(r.stderr, /cannot open a browser or wait for you/);
  t.match(r.stderr, `kubegate login --issuer ${world.issuer.issuer} --client-id kubegate --certificate-authority ${world.issuer.caFile} --scopes groups`);
  t.equal(world.issuer.requests.length, 0, 'the issuer was not contacted');
  t.equal(world.browserRuns().length, 0, 'no browser was started');

  // running that command directly (no KUBERNETES_EXEC_INFO, as a person would) signs in
  const direct = await kubegate(world.loginArgs('--scopes', 'groups'), world.env());
  t.equal(direct.code, 0, direct.stderr);
  t.equal(parseExecCredential(direct.stdout).kind, 'ExecCredential');
  const again = await kubegate(world.loginArgs('--scopes', 'groups'), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.equal(again.code, 0, 'then the non-interactive run finds the token');

  const bad = await kubegate(world.loginArgs(), world.env({ KUBERNETES_EXEC_INFO: '{not json' }));
  t.equal(bad.code, 1);
  t.match(bad.stderr, /KUBERNETES_EXEC_INFO is not JSON/);
});

t.test('two processes at once: one sign-in, both print the same token', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  // The browser waits at a gate, so the sign-in stays open until the second process is seen waiting.
  const gate = join(world.home, 'gate');
  const env = world.env({ KUBERNETES_EXEC_INFO: INTERACTIVE, TEST_BROWSER_GATE: gate });
  const a = startKubegate(world.loginArgs(), env);
  const b = startKubegate(world.loginArgs(), env);
  t.teardown(() => { a.child.kill(); b.child.kill(); });
  const waiting = await eventually('one process waiting for the other', () =>
    [a, b].find((p) => /Waiting for another kubegate login to finish \(pid \d+\)/.test(p.stderrSoFar())), 20_000);
  t.ok(waiting, 'one process waits for the lock while the other signs in');
  t.ok(readdirSync(world.cacheDir).some((f) => f.endsWith('.lock')), 'the lock file exists meanwhile');
  writeFileSync(gate, '');
  const [ra, rb] = await within(Promise.all([a.done, b.done]), 60_000, 'two concurrent logins');
  t.equal(ra.code, 0, ra.stderr);
  t.equal(rb.code, 0, rb.stderr);
  t.equal(parseExecCredential(ra.stdout).status.token, parseExecCredential(rb.stdout).status.token, 'the same token');
  t.equal(world.issuer.requests.filter((r) => r.path === '/auth').length, 1, 'one authorization request');
  t.equal(world.issuer.requests.filter((r) => r.path === '/token').length, 1, 'one token request');
  t.equal(world.browserRuns().length, 1, 'one browser');
  t.same(readdirSync(world.cacheDir).filter((f) => !f.endsWith('.json')), [], 'the lock is gone afterwards');

  // five more at once, all cache hits
  const before = world.issuer.requests.length;
  const more = await Promise.all(Array.from({ length: 5 }, () => kubegate(world.loginArgs(), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }))));
  t.ok(more.every((r) => r.code === 0 && parseExecCredential(r.stdout).status.token === parseExecCredential(ra.stdout).status.token));
  t.equal(world.issuer.requests.length, before);
});

t.test('device flow: the verification URI and user code on stderr; approved through the provider', async (t) => {
  const world = await startLoginWorld({ deviceFlow: true });
  t.teardown(() => world.close());
  const run = startKubegate(world.loginArgs('--grant', 'device', '--scopes', 'email,offline_access'), world.env({ KUBERNETES_EXEC_INFO: INTERACTIVE }));
  t.teardown(() => { run.child.kill(); });
  const started = Date.now();
  const shown = await eventually('the user code on stderr', () => {
    const text = run.stderrSoFar();
    const uri = /open this URL on any device:\n\n {2}(\S+)/.exec(text)?.[1];
    const code = /enter the code: (\S+)/.exec(text)?.[1];
    const complete = /which carries the code:\n\n {2}(\S+)/.exec(text)?.[1];
    return uri && code && complete ? { uri, code, complete } : undefined;
  }, 15_000);
  t.comment(`device code shown after ${Date.now() - started} ms`);
  t.equal(shown.uri, `${world.issuer.issuer}/device`);
  t.equal(shown.complete, `${world.issuer.issuer}/device?user_code=${shown.code}`);
  t.equal(world.browserRuns().length, 0, 'the device flow opens no browser');

  const browser = new TestBrowser({ ca: world.ca, login: 'alice' });
  const page = await browser.open(shown.uri, { userCode: shown.code });
  t.same(page.steps.map((s) => s.form).filter(Boolean), ['user_code', 'confirm', 'login', 'consent']);
  t.match(page.body, /Sign-in Success/);

  const done = await within(run.done, 30_000, 'the plugin to finish');
  t.equal(done.code, 0, done.stderr);
  const cred = parseExecCredential(done.stdout);
  t.equal(claimsOf(cred.status.token).sub, 'alice');
  t.equal(claimsOf(cred.status.token).email, 'alice@example.com');
  const da = world.issuer.requests.find((r) => r.path === '/device/auth');
  t.ok(da, 'a device authorization request');
  t.notOk(world.issuer.requests.some((r) => r.path === '/auth'), 'no browser authorization request');

  // the cache key is issuer + client + scopes, not the grant: the code flow finds this token
  const code = await kubegate(world.loginArgs('--scopes', 'email,offline_access'), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.equal(code.code, 0, code.stderr);
  t.equal(parseExecCredential(code.stdout).status.token, cred.status.token);
});

t.test('no browser to open, then Ctrl-C: the URL on stderr, exit 130, lock released, nothing cached', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  const run = startKubegate(world.loginArgs(), world.env({ BROWSER: join(world.home, 'no-such-browser') }));
  t.teardown(() => { run.child.kill('SIGKILL'); });
  const url = await eventually('the sign-in URL on stderr', () => /Open this URL in a browser to sign in to \S+:\n\n {2}(https:\S+)/.exec(run.stderrSoFar())?.[1], 15_000);
  t.match(url, `${world.issuer.issuer}/auth?`);
  await eventually('the lock file', () => (readdirSync(world.cacheDir).some((f) => f.endsWith('.lock')) ? true : undefined), 5000);
  run.child.kill('SIGINT');
  const done = await within(run.done, 10_000, 'the plugin to stop');
  t.equal(done.code, 130, done.stderr);
  t.equal(done.stdout, '');
  t.match(done.stderr, /interrupted while waiting for the sign-in in the browser/);
  t.same(readdirSync(world.cacheDir), [], 'no lock, no entry');
});

t.test('without --certificate-authority: the system roots (and NODE_EXTRA_CA_CERTS)', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  const args = ['login', '--issuer', world.issuer.issuer, '--client-id', world.issuer.clientId];
  const untrusted = await kubegate(args, world.env());
  t.equal(untrusted.code, 1);
  t.equal(untrusted.stdout, '');
  t.match(untrusted.stderr, /discovery of https:\/\/127\.0\.0\.1:\d+: .*certificate.*is --certificate-authority the CA that signs the issuer's certificate\?/);
  const trusted = await kubegate(args, world.env({ NODE_EXTRA_CA_CERTS: world.issuer.caFile }));
  t.equal(trusted.code, 0, trusted.stderr);
  t.equal(claimsOf(parseExecCredential(trusted.stdout).status.token).sub, 'alice');
});

t.test('device flow against an issuer without it: a clear refusal', async (t) => {
  const world = await startLoginWorld({ deviceFlow: false });
  t.teardown(() => world.close());
  const r = await kubegate(world.loginArgs('--grant', 'device'), world.env());
  t.equal(r.code, 1);
  t.equal(r.stdout, '');
  t.match(r.stderr, /does not advertise the device authorization grant.*use --grant code/);
});

t.test('logout clears every cached token; the next run signs in again', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  t.equal((await kubegate(world.loginArgs(), world.env())).code, 0);
  t.equal((await kubegate(world.loginArgs('--scopes', 'groups'), world.env())).code, 0);
  t.equal(readdirSync(world.cacheDir).length, 2);

  const narrow = await kubegate(['logout', '--issuer', 'https://other.example'], world.env());
  t.equal(narrow.code, 0);
  t.match(narrow.stdout, /Removed 0 cached logins/);

  const out = await kubegate(['logout'], world.env());
  t.equal(out.code, 0, out.stderr);
  t.match(out.stdout, `Removed 2 cached logins from ${world.cacheDir}`);
  t.same(readdirSync(world.cacheDir), []);
  const again = await kubegate(world.loginArgs(), world.env({ KUBERNETES_EXEC_INFO: NOT_INTERACTIVE }));
  t.equal(again.code, 1, 'nothing cached any more');
});

t.test('usage errors', async (t) => {
  const env = { PATH: process.env.PATH ?? '', HOME: '/nonexistent' };
  const cases: [string[], RegExp][] = [
    [['login'], /--issuer is required/],
    [['login', '--issuer', 'http://idp.example', '--client-id', 'k'], /--issuer must be an https URL/],
    [['login', '--issuer', 'https://idp.example'], /--client-id is required/],
    [['login', '--issuer', 'https://idp.example', '--client-id', 'k', '--grant', 'implicit'], /--grant must be code or device/],
    [['login', '--issuer', 'https://idp.example', '--client-id', 'k', '--listen-port', '70000'], /--listen-port must be a port number/],
    [['login', '--issuer', 'https://idp.example', '--client-id', 'k', '--auth-param', 'state=x'], /--auth-param may not set state/],
    [['login', '--issuer', 'https://idp.example', '--client-id', 'k', '--auth-param', 'novalue'], /--auth-param must be KEY=VALUE/],
    [['logout', '--client-id', 'k'], /--client-id needs --issuer/],
  ];
  for (const [args, message] of cases) {
    const r = await kubegate(args, env);
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, message);
    t.equal(r.stdout, '');
  }
  const help = await kubegate(['login', '--help'], env);
  t.equal(help.code, 0);
  t.match(help.stdout, /--force/);
});
