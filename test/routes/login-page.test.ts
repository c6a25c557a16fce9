/**
 * The sign-in page against a REAL OpenID provider on loopback (oidc-provider, test/support/oidc-issuer.ts),
 * with a scripted person at its dev interaction pages. The page is served from a small https server of this
 * test's own (see login-page-support.ts): it is not wired into kubegate's listener yet.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { execFile } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { createLoginPage, CALLBACK_PATH, type LoginPageSettings } from '../../src/routes/login-page.js';
import { CONTENT_SECURITY_POLICY, STYLE_HASH } from '../../src/routes/login-page/html.js';
import { FLOW_COOKIE } from '../../src/routes/login-page/flow-cookie.js';
import { captureLogger } from '../support/logs.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { createPki } from '../support/pki.js';
import { cookiePair, fetchText, oidcClaimMapper, signInAtIssuer, startPageServer, type Answer, type OidcMapping } from './login-page-support.js';

const PAGE_CLIENT = 'kubegate-login-page';
const PAGE_SECRET = 'page-client-secret-for-tests';
const ACCOUNTS = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'], name: 'Alice Example' },
  mallory: { email: '<script>alert(1)</script>@evil.example', email_verified: true, groups: ['"><img src=x onerror=alert(2)>'], name: '</td><b>bold</b>' },
  root: { email: 'system:kube-controller-manager', email_verified: true, groups: ['admins'] },
  unverified: { email: 'bob@example.com', email_verified: false },
};
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';

t.test('sign-in page', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const ca = pki.ca;
  const site = await startPageServer(pki);
  t.teardown(() => site.close());
  const issuer = await startTestIssuer({
    pki,
    interactive: { accounts: ACCOUNTS },
    loginPageClient: { clientId: PAGE_CLIENT, clientSecret: PAGE_SECRET, redirectUris: [`${site.url}${CALLBACK_PATH}`] },
  });
  t.teardown(() => issuer.close());

  const mapping: OidcMapping = {
    issuerUrl: issuer.issuer,
    usernameClaim: 'email',
    groupsClaim: 'groups',
    groupsPrefix: 'oidc:',
    uidClaim: 'sub',
    extraClaims: { 'example.com/name': 'name' },
  };
  const settings = (overrides: Partial<LoginPageSettings> = {}): LoginPageSettings => ({
    issuerUrl: issuer.issuer,
    issuerCa: ca,
    publicUrl: site.url,
    clientId: PAGE_CLIENT,
    clientSecret: PAGE_SECRET,
    clientAuthMethod: 'client_secret_basic',
    scopes: ['openid', 'email', 'profile', 'groups'],
    requiredClaims: {},
    signingAlgs: ['RS256'],
    flowTimeoutSeconds: 600,
    kubeconfig: {
      name: 'prod-kubegate',
      server: site.url,
      certificateAuthority: ca,
      command: 'kubegate',
      issuerUrl: issuer.issuer,
      clientId: 'kubegate',
      scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'],
      authParams: {},
      extraArgs: [],
      installCommand: 'npm install --global kubegate',
    },
    ...overrides,
  });
  let clock = Date.now();
  const { log, lines } = captureLogger();
  const page = createLoginPage(settings(), { mapClaims: oidcClaimMapper(mapping), log, now: () => clock });
  t.teardown(() => page.close());
  site.serve(page);

  const get = (path: string, cookie?: string) => fetchText(`${site.url}${path}`, { ca, ...(cookie ? { headers: { cookie } } : {}) });
  /** GET /kubegate/login: the authorization URL and the flow cookie (name=value). */
  const begin = async (): Promise<{ location: URL; cookie: string; answer: Answer }> => {
    const answer = await get('/kubegate/login');
    t.equal(answer.status, 303, 'redirects to the identity provider');
    const setCookie = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
    return { location: new URL(answer.headers.location!), cookie: cookiePair(setCookie[0]!), answer };
  };
  /** The whole flow for one account: the callback answer. */
  const signIn = async (login: string) => {
    const { location, cookie } = await begin();
    const callback = await signInAtIssuer(location.href, { ca, login });
    return { callback, cookie, answer: await get(callback.pathname + callback.search, cookie) };
  };
  const errorCode = (a: Answer) => /id="error-code">([A-Z_]+)</.exec(a.body)?.[1];
  const cell = (a: Answer, id: string) => new RegExp(`<td id="${id}">([\\s\\S]*?)</td>`).exec(a.body)?.[1];

  t.test('which requests are the page\'s', async (t) => {
    for (const url of ['/kubegate/login', '/kubegate/login?x=1', '/kubegate/login/', '/kubegate/login/callback?code=a&state=b', '/kubegate/login/kubeconfig', '/kubegate/login/other']) {
      t.ok(page.handles(url), url);
    }
    for (const url of ['/kubegate/loginx', '/kubegate/logi', '/kubegate/v1/elevations', '/api/v1/pods', '/', '/healthz', '/x/kubegate/login']) {
      t.notOk(page.handles(url), url);
    }
  });

  t.test('start: a code + PKCE + state + nonce request, and a sealed, scoped, short-lived cookie', async (t) => {
    const { location, answer } = await begin();
    t.equal(location.origin, issuer.issuer);
    const q = location.searchParams;
    t.equal(q.get('response_type'), 'code');
    t.equal(q.get('client_id'), PAGE_CLIENT);
    t.equal(q.get('redirect_uri'), `${site.url}/kubegate/login/callback`);
    t.equal(q.get('scope'), 'openid email profile groups');
    t.equal(q.get('code_challenge_method'), 'S256');
    t.match(q.get('code_challenge'), /^[A-Za-z0-9_-]{43}$/);
    t.ok((q.get('state') ?? '').length >= 20, 'state');
    t.ok((q.get('nonce') ?? '').length >= 20, 'nonce');
    const setCookie = ([] as string[]).concat(answer.headers['set-cookie'] ?? []);
    t.equal(setCookie.length, 1);
    const attrs = setCookie[0]!.split(';').map((s) => s.trim());
    t.ok(attrs[0]!.startsWith(`${FLOW_COOKIE}=`));
    t.same(attrs.slice(1).sort(), ['HttpOnly', 'Max-Age=600', 'Path=/kubegate/login', 'SameSite=Lax', 'Secure'].sort());
    const value = attrs[0]!.slice(FLOW_COOKIE.length + 1);
    t.notOk(value.includes(q.get('state')!) || value.includes(q.get('nonce')!), 'the cookie does not show state or nonce');
    t.equal(value.split('.').length, 5, 'a compact JWE');
    t.equal(answer.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    t.equal(answer.headers['cache-control'], 'no-store');
  });

  t.test('sign in: the identity as kubegate will impersonate it, escaped, and the cookie cleared', async (t) => {
    const { answer } = await signIn('alice');
    t.equal(answer.status, 200, answer.body.slice(0, 500));
    t.equal(cell(answer, 'username'), '<code>alice@example.com</code>');
    t.equal(cell(answer, 'groups'), '<ul><li><code>oidc:dev</code></li><li><code>oidc:ops</code></li></ul>');
    t.equal(cell(answer, 'uid'), '<code>alice</code>');
    t.equal(cell(answer, 'extra'), '<ul><li><code>example.com/name</code>: <code>Alice Example</code></li></ul>');
    t.match(answer.body, 'npm install --global kubegate', 'how to install the CLI');
    t.match(answer.body, 'href="/kubegate/login/kubeconfig"', 'the download link');
    t.match(answer.body, 'export KUBECONFIG=~/.kube/kubegate.yaml', 'how to use it');
    t.match(answer.body, 'kubectl get pods');
    t.match(answer.body, `kubegate login --issuer ${issuer.issuer} --client-id kubegate --scopes openid,email,profile,groups,offline_access`);
    t.notMatch(answer.body, /<script/i, 'no script');
    t.notMatch(answer.body, /eyJ[A-Za-z0-9_-]{10,}\.eyJ/, 'no token on the page');
    t.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(answer.headers['content-security-policy'], CONTENT_SECURITY_POLICY);
    t.equal(answer.headers['x-frame-options'], 'DENY');
    t.equal(answer.headers['referrer-policy'], 'no-referrer');
    t.equal(answer.headers['x-content-type-options'], 'nosniff');
    const style = /<style>([\s\S]*?)<\/style>/.exec(answer.body)![1]!;
    t.equal(`'sha256-${createHash('sha256').update(style).digest('base64')}'`, STYLE_HASH, 'the CSP hash allows exactly the inline stylesheet');
    t.notMatch(answer.body, /(src|href)="(https?:)?\/\//, 'no external asset or link');
    t.match(([] as string[]).concat(answer.headers['set-cookie'] ?? [])[0], /^__Secure-kubegate-login=; .*Max-Age=0/, 'flow cookie cleared');
    t.ok(lines.some((l) => l.message === 'login page: signed in' && l.username === 'alice@example.com'), 'sign-in logged');
    t.notOk(JSON.stringify(lines).includes('eyJ'), 'no token in the log');
  });

  t.test('claims are escaped everywhere', async (t) => {
    const { answer } = await signIn('mallory');
    t.equal(answer.status, 200);
    t.equal(cell(answer, 'username'), '<code>&lt;script&gt;alert(1)&lt;/script&gt;@evil.example</code>');
    t.match(cell(answer, 'groups'), '&quot;&gt;&lt;img src=x onerror=alert(2)&gt;');
    t.match(cell(answer, 'extra'), '&lt;/td&gt;&lt;b&gt;bold&lt;/b&gt;');
    t.notMatch(answer.body, /<script>|<img|<b>bold/);
  });

  t.test('the kubeconfig: exec plugin, server and CA, no credential; kubectl reads it', async (t) => {
    const answer = await get('/kubegate/login/kubeconfig');
    t.equal(answer.status, 200);
    t.equal(answer.headers['content-type'], 'application/yaml; charset=utf-8');
    t.equal(answer.headers['content-disposition'], 'attachment; filename="prod-kubegate.kubeconfig"');
    const kc = YAML.parse(answer.body) as {
      clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
      users: { name: string; user: { exec: Record<string, unknown> } }[];
      contexts: { name: string; context: { cluster: string; user: string } }[];
      'current-context': string;
    };
    t.same(kc.clusters.map((c) => c.name), ['prod-kubegate']);
    t.equal(kc.clusters[0]!.cluster.server, site.url);
    t.equal(Buffer.from(kc.clusters[0]!.cluster['certificate-authority-data'], 'base64').toString('utf8'), ca);
    const exec = kc.users[0]!.user.exec;
    t.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
    t.equal(exec.command, 'kubegate');
    t.same(exec.args, ['login', '--issuer', issuer.issuer, '--client-id', 'kubegate', '--scopes', 'openid,email,profile,groups,offline_access']);
    t.equal(exec.interactiveMode, 'IfAvailable');
    t.equal(exec.provideClusterInfo, false);
    t.same(kc.contexts, [{ name: 'prod-kubegate', context: { cluster: 'prod-kubegate', user: 'prod-kubegate' } }]);
    t.equal(kc['current-context'], 'prod-kubegate');
    t.notMatch(answer.body, /^\s*(token|tokenFile|password|username|client-key(-data)?|client-certificate(-data)?|auth-provider):/m, 'no credential');
    t.notOk(answer.body.includes(PAGE_SECRET));

    const head = await fetchText(`${site.url}/kubegate/login/kubeconfig`, { ca, method: 'HEAD' });
    t.equal(head.status, 200);
    t.equal(head.body, '');
    t.equal(head.headers['content-length'], String(Buffer.byteLength(answer.body)));

    if (!existsSync(KUBECTL)) {
      t.comment(`no kubectl at ${KUBECTL}: kubectl config view not checked`);
      return;
    }
    const file = join(pki.dir, 'page.kubeconfig');
    writeFileSync(file, answer.body);
    const view = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(KUBECTL, ['config', 'view', '--kubeconfig', file, '-o', 'json'], { timeout: 20_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? 1 : 0, stdout, stderr }),
      ),
    );
    t.equal(view.code, 0, view.stderr);
    const viewed = JSON.parse(view.stdout) as { users: { user: { exec: { args: string[]; interactiveMode: string } } }[] };
    t.equal(viewed.users[0]!.user.exec.interactiveMode, 'IfAvailable');
    t.same(viewed.users[0]!.user.exec.args.slice(0, 1), ['login']);
  });

  t.test('IdP refusal (access_denied): an error page with the description, cookie cleared', async (t) => {
    const { location, cookie } = await begin();
    const callback = await signInAtIssuer(location.href, { ca, login: 'alice', cancel: true });
    t.equal(callback.searchParams.get('error'), 'access_denied');
    const answer = await get(callback.pathname + callback.search, cookie);
    t.equal(answer.status, 403);
    t.equal(errorCode(answer), 'LOGIN_ACCESS_DENIED');
    t.equal(answer.headers['kubegate-error'], 'LOGIN_ACCESS_DENIED');
    t.match(answer.body, /id="detail">The identity provider answered access_denied: End-User aborted interaction/);
    t.match(([] as string[]).concat(answer.headers['set-cookie'] ?? [])[0], /Max-Age=0/);
    t.notMatch(answer.body, /\n\s+at |Error:/, 'no stack trace');
    t.equal(answer.headers['content-security-policy'], CONTENT_SECURITY_POLICY);

    const noCookie = await get(callback.pathname + callback.search);
    t.equal(noCookie.status, 403);
    t.equal(errorCode(noCookie), 'LOGIN_ACCESS_DENIED');
    t.notMatch(noCookie.body, /End-User aborted/, 'without the flow, the IdP\'s free text is not shown');
  });

  t.test('a response for another sign-in (wrong state): refused, and its text is not shown', async (t) => {
    const first = await begin();
    const callback = await signInAtIssuer(first.location.href, { ca, login: 'alice' });
    const second = await begin();
    const answer = await get(callback.pathname + callback.search, second.cookie);
    t.equal(answer.status, 400);
    t.equal(errorCode(answer), 'LOGIN_STATE_MISMATCH');

    const phishing = `/kubegate/login/callback?error=access_denied&error_description=${encodeURIComponent('Call +1 555 0100 to unlock your account')}&state=forged`;
    const forged = await get(phishing, second.cookie);
    t.equal(forged.status, 400);
    t.equal(errorCode(forged), 'LOGIN_STATE_MISMATCH');
    t.notMatch(forged.body, /555 0100/);

    const odd = await get(`/kubegate/login/callback?error=${encodeURIComponent('Call +1 555 0100')}`);
    t.equal(odd.status, 400);
    t.equal(errorCode(odd), 'LOGIN_PROVIDER_ERROR');
    t.match(odd.body, 'answered an unrecognised error');
    t.notMatch(odd.body, /555 0100/, 'an error code that is not a code is not repeated');

    const noState = await get('/kubegate/login/callback?code=abc', second.cookie);
    t.equal(errorCode(noState), 'LOGIN_STATE_MISMATCH');
  });

  t.test('missing, altered, foreign and expired flow cookies', async (t) => {
    const { location, cookie } = await begin();
    const callback = await signInAtIssuer(location.href, { ca, login: 'alice' });
    const target = callback.pathname + callback.search;

    const missing = await get(target);
    t.equal(missing.status, 400);
    t.equal(errorCode(missing), 'LOGIN_FLOW_MISSING');

    const value = cookie.slice(FLOW_COOKIE.length + 1);
    const flipped = value.slice(0, -3) + (value.endsWith('AAA') ? 'BBB' : 'AAA');
    const altered = await get(target, `${FLOW_COOKIE}=${flipped}`);
    t.equal(altered.status, 400);
    t.equal(errorCode(altered), 'LOGIN_FLOW_INVALID');

    const other = createLoginPage(settings(), { mapClaims: oidcClaimMapper(mapping) });
    t.teardown(() => other.close());
    site.serve(other);
    const foreign = await get(target, cookie);
    site.serve(page);
    t.equal(errorCode(foreign), 'LOGIN_FLOW_INVALID', 'sealed by another process\'s key');

    clock += 601_000;
    const expired = await get(target, cookie);
    clock -= 601_000;
    t.equal(expired.status, 400);
    t.equal(errorCode(expired), 'LOGIN_FLOW_EXPIRED');

    const ok = await get(target, cookie);
    t.equal(ok.status, 200, 'the same response within the time limit works');
  });

  t.test('a code used twice: refused by the identity provider', async (t) => {
    const { callback, cookie, answer } = await signIn('alice');
    t.equal(answer.status, 200);
    const replay = await get(callback.pathname + callback.search, cookie);
    t.equal(replay.status, 400);
    t.equal(errorCode(replay), 'LOGIN_CODE_REJECTED');
  });

  t.test('identities kubegate would refuse are explained, not shown as signed in', async (t) => {
    const reserved = await signIn('root');
    t.equal(reserved.answer.status, 403);
    t.equal(errorCode(reserved.answer), 'LOGIN_IDENTITY_REFUSED');
    t.match(reserved.answer.body, 'reserved system: name (system:kube-controller-manager)');

    const unverified = await signIn('unverified');
    t.equal(unverified.answer.status, 403);
    t.equal(errorCode(unverified.answer), 'LOGIN_IDENTITY_REFUSED');
    t.match(unverified.answer.body, 'email_verified');

    const strict = createLoginPage(settings({ requiredClaims: { hd: 'example.com' } }), { mapClaims: oidcClaimMapper(mapping) });
    t.teardown(() => strict.close());
    site.serve(strict);
    const required = await signIn('alice');
    site.serve(page);
    t.equal(required.answer.status, 403);
    t.equal(errorCode(required.answer), 'LOGIN_IDENTITY_REFUSED');
    t.match(required.answer.body, 'hd=&quot;example.com&quot; and has no such claim');

    const es256Only = createLoginPage(settings({ signingAlgs: ['ES256'] }), { mapClaims: oidcClaimMapper(mapping) });
    t.teardown(() => es256Only.close());
    site.serve(es256Only);
    const wrongAlg = await signIn('alice');
    site.serve(page);
    t.equal(wrongAlg.answer.status, 403);
    t.equal(errorCode(wrongAlg.answer), 'LOGIN_IDENTITY_REFUSED');
    t.match(wrongAlg.answer.body, 'signs ID tokens with RS256; kubegate accepts ES256 (setting oidc.signingAlgs)');
  });

  t.test('callback oddities, other methods and paths', async (t) => {
    const { cookie } = await begin();
    const repeated = await get('/kubegate/login/callback?code=a&code=b&state=x', cookie);
    t.equal(repeated.status, 400);
    t.equal(errorCode(repeated), 'LOGIN_CALLBACK_INVALID');

    const post = await fetchText(`${site.url}/kubegate/login`, { ca, method: 'POST', body: 'x' });
    t.equal(post.status, 405);
    t.equal(post.headers.allow, 'GET, HEAD');
    t.equal(errorCode(post), 'LOGIN_METHOD_NOT_ALLOWED');

    const unknown = await get('/kubegate/login/%3Cscript%3E');
    t.equal(unknown.status, 404);
    t.equal(errorCode(unknown), 'LOGIN_NOT_FOUND');
    t.notMatch(unknown.body, /<script/i);
  });

  t.test('identity provider unreachable: 503 page, and the page recovers once it is back', async (t) => {
    const down = createLoginPage(settings({ issuerUrl: 'https://127.0.0.1:1' }), { mapClaims: oidcClaimMapper(mapping), log });
    t.teardown(() => down.close());
    site.serve(down);
    const answer = await get('/kubegate/login');
    site.serve(page);
    t.equal(answer.status, 503);
    t.equal(errorCode(answer), 'LOGIN_PROVIDER_UNAVAILABLE');
    t.notMatch(answer.body, /ECONNREFUSED|\n\s+at /, 'no internals on the page');
    t.ok(lines.some((l) => l.code === 'LOGIN_PROVIDER_UNAVAILABLE' && /ECONNREFUSED/.test(String(l.cause) + String(l.reason))), 'the reason is in the log');
  });

  t.test('a public client (no secret, PKCE only) and client_secret_post', async (t) => {
    const pub = await startTestIssuer({
      pki,
      interactive: { accounts: ACCOUNTS },
      loginPageClient: { clientId: 'public-page', redirectUris: [`${site.url}${CALLBACK_PATH}`] },
    });
    t.teardown(() => pub.close());
    const publicPage = createLoginPage(
      settings({ issuerUrl: pub.issuer, clientId: 'public-page', clientSecret: undefined }),
      { mapClaims: oidcClaimMapper({ ...mapping, issuerUrl: pub.issuer }) },
    );
    t.teardown(() => publicPage.close());
    site.serve(publicPage);
    const answer = await signIn('alice');
    t.equal(answer.answer.status, 200, answer.answer.body.slice(0, 400));
    t.equal(cell(answer.answer, 'username'), '<code>alice@example.com</code>');

    const post = await startTestIssuer({
      pki,
      interactive: { accounts: ACCOUNTS },
      loginPageClient: { clientId: 'post-page', clientSecret: 's', tokenEndpointAuthMethod: 'client_secret_post', redirectUris: ['https://kubegate.invalid/kubegate/login/callback'] },
    });
    t.teardown(() => post.close());
    post.setLoginPageRedirectUris!([`${site.url}${CALLBACK_PATH}`]);
    const postPage = createLoginPage(
      settings({ issuerUrl: post.issuer, clientId: 'post-page', clientSecret: 's', clientAuthMethod: 'client_secret_post' }),
      { mapClaims: oidcClaimMapper({ ...mapping, issuerUrl: post.issuer }) },
    );
    t.teardown(() => postPage.close());
    site.serve(postPage);
    const viaPost = await signIn('alice');
    site.serve(page);
    t.equal(viaPost.answer.status, 200, viaPost.answer.body.slice(0, 400));
  });

  t.test('a wrong client secret: a configuration error page, the secret appears nowhere', async (t) => {
    const wrong = createLoginPage(settings({ clientSecret: 'not-the-secret' }), { mapClaims: oidcClaimMapper(mapping), log });
    t.teardown(() => wrong.close());
    site.serve(wrong);
    const { answer } = await signIn('alice');
    site.serve(page);
    t.equal(answer.status, 502);
    t.equal(errorCode(answer), 'LOGIN_CLIENT_REJECTED');
    t.notOk(answer.body.includes('not-the-secret'));
    t.notOk(JSON.stringify(lines).includes('not-the-secret'));
  });

});
