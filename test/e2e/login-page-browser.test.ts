/**
 * The sign-in page END TO END in a real headless browser: Debian's `chromium` (/usr/bin/chromium) driven by
 * playwright-core (nothing is downloaded: playwright-core has no browser of its own). JavaScript is OFF in
 * the browser for the sign-in, so the page (and the test issuer's forms) must work without it.
 *
 * The page is served by kubegate itself (in-process, `loginPage.enabled`, real TLS on 127.0.0.1) in front
 * of the recording fake API server; the identity provider is the test oidc-provider.
 *
 * Flow: open /kubegate/login → sign in at the test issuer (oidc-provider dev login and consent forms) →
 * read the mapped identity on the page → download the kubeconfig → `kubectl config view` reads it. Then the
 * error pages: the person cancels at the issuer (access_denied), a callback with a wrong state, a callback
 * without a sign-in in progress. Any request off loopback is blocked (and listed). On failure a screenshot
 * of each open page is kept in this test's fixture directory.
 *
 * Skipped (with a tap skip) only when /usr/bin/chromium is missing and $CI is unset; in CI it must run.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { silentLogger } from '../../src/log/logger.js';
import { CALLBACK_PATH } from '../../src/routes/login-page.js';
import { startKubegate } from '../../src/server/server.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { kubeconfigYaml, SA_TOKEN } from '../support/harness.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { createPki } from '../support/pki.js';

/** A port nothing listens on right now (kubegate's public URL must be known before it starts). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
const STEP_TIMEOUT_MS = 10_000;

if (!existsSync(CHROMIUM) && !process.env.CI) {
  t.plan(0, `no browser at ${CHROMIUM}: install Debian's chromium (apt-get install -y chromium) to run the sign-in page in a browser; in CI this test must run`);
} else {
  t.test('sign-in page in headless chromium', { timeout: 60_000 }, async (t) => {
    t.ok(existsSync(CHROMIUM), `a browser at ${CHROMIUM} (CI installs Debian's chromium)`);
    const { chromium } = await import('playwright-core');
    const started = Date.now();
    const pki = createPki();
    t.teardown(() => pki.cleanup());
    // The public URL must be known before kubegate starts (it is the redirect URI): take a free port first.
    const port = await freePort();
    const site = { url: `https://127.0.0.1:${port}` };
    const issuer = await startTestIssuer({
      pki,
      interactive: { accounts: { alice: { email: 'alice@example.com', email_verified: true, groups: ['developers', 'on-call'], name: 'Alice <Example>' } } },
      loginPageClient: { clientId: 'kubegate-page', clientSecret: 'browser-test-secret', redirectUris: [`${site.url}${CALLBACK_PATH}`] },
    });
    t.teardown(() => issuer.close());
    const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
    t.teardown(() => fake.close());
    const upstreamKubeconfig = join(pki.dir, 'page-upstream.kubeconfig');
    writeFileSync(upstreamKubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
    const secretFile = join(pki.dir, 'page-client-secret');
    writeFileSync(secretFile, 'browser-test-secret');
    const serving = pki.server();
    const kubegate = await startKubegate(
      validateConfigOrThrow({
        server: { bindAddress: '127.0.0.1', securePort: port, metricsBindAddress: '0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
        oidc: { issuerUrl: issuer.issuer, clientId: 'kubegate', caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups', groupsPrefix: 'oidc:', uidClaim: 'sub', extraClaims: { 'example.com/name': 'name' } },
        upstream: { kubeconfig: upstreamKubeconfig },
        audit: { logPath: join(pki.dir, 'page-audit.log') },
        loginPage: {
          enabled: true,
          publicUrl: site.url,
          clientId: 'kubegate-page',
          clientSecretFile: secretFile,
          scopes: ['openid', 'email', 'profile', 'groups'],
          kubeconfig: { name: 'kubegate-e2e', certificateAuthorityFile: pki.caFile, scopes: ['openid', 'email', 'profile', 'groups', 'offline_access'] },
        },
      }),
      { log: silentLogger() },
    );
    t.teardown(() => kubegate.close());
    await kubegate.ready();

    const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true, timeout: 20_000 });
    t.teardown(() => browser.close());
    t.comment(`${browser.version()} up after ${Date.now() - started} ms`);
    const blocked: string[] = [];
    const cspViolations: string[] = [];
    const newContext = async (javaScriptEnabled: boolean) => {
      // The test CA is not in chromium's trust store: certificate errors are ignored (loopback only).
      const context = await browser.newContext({ ignoreHTTPSErrors: true, acceptDownloads: true, javaScriptEnabled });
      context.setDefaultTimeout(STEP_TIMEOUT_MS);
      // Nothing leaves loopback (the issuer's dev pages @import a web font).
      await context.route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1') return route.continue();
        blocked.push(url.origin);
        return route.abort();
      });
      return context;
    };
    const pages: import('playwright-core').Page[] = [];
    const open = async (javaScriptEnabled: boolean) => {
      const context = await newContext(javaScriptEnabled);
      const p = await context.newPage();
      p.on('console', (m) => {
        if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
      });
      pages.push(p);
      return p;
    };
    /** The status of the page's callback answer during `action`. */
    const callbackStatus = async (p: import('playwright-core').Page, action: () => Promise<unknown>) => {
      const response = p.waitForResponse((r) => new URL(r.url()).pathname === CALLBACK_PATH);
      await action();
      return (await response).status();
    };

    try {
      await t.test('sign in with JavaScript off, read the identity, download the kubeconfig, kubectl reads it', async (t) => {
        const p = await open(false);
        await p.goto(`${site.url}/kubegate/login`);
        t.equal(new URL(p.url()).origin, issuer.issuer, 'at the identity provider');
        await p.fill('input[name=login]', 'alice');
        await p.fill('input[name=password]', 'any password');
        await p.click('button[type=submit]');
        await p.waitForSelector('input[name=prompt][value=consent]', { state: 'attached' });
        const status = await callbackStatus(p, () => p.click('button[type=submit]'));
        t.equal(status, 200, 'signed in');
        t.equal(new URL(p.url()).pathname, CALLBACK_PATH);
        t.equal(await p.title(), 'Signed in · kubegate');
        t.equal((await p.textContent('#username'))?.trim(), 'alice@example.com');
        t.same(await p.locator('#groups li').allTextContents(), ['oidc:developers', 'oidc:on-call']);
        t.equal((await p.textContent('#uid'))?.trim(), 'alice');
        t.equal((await p.textContent('#extra'))?.trim(), 'example.com/name: Alice <Example>', 'escaped text reads back as written');
        t.match(await p.textContent('#install'), 'npm install --global kubegate');
        t.match(await p.textContent('#use'), 'kubectl get pods');
        // The inline stylesheet is allowed by its CSP hash: its rules apply.
        t.equal(await p.$eval('main', (m) => getComputedStyle(m).maxWidth), '832px', 'the stylesheet applies under the CSP');

        const [download] = await Promise.all([p.waitForEvent('download'), p.click('#download')]);
        t.equal(download.suggestedFilename(), 'kubegate-e2e.kubeconfig');
        const file = join(pki.dir, 'downloaded.kubeconfig');
        await download.saveAs(file);
        const kc = YAML.parse(readFileSync(file, 'utf8')) as { users: { user: { exec: { args: string[] } } }[] };
        t.same(kc.users[0]!.user.exec.args, ['login', '--issuer', issuer.issuer, '--client-id', 'kubegate', '--scopes', 'openid,email,profile,groups,offline_access']);

        const view = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
          execFile(KUBECTL, ['config', 'view', '--kubeconfig', file, '-o', 'json'], { timeout: 20_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })),
        );
        t.equal(view.code, 0, `kubectl config view: ${view.stderr}`);
        const viewed = JSON.parse(view.stdout) as {
          'current-context': string;
          clusters: { cluster: { server: string; 'certificate-authority-data': string } }[];
          users: { user: { exec: { apiVersion: string; command: string; interactiveMode: string; provideClusterInfo: boolean } } }[];
        };
        t.equal(viewed['current-context'], 'kubegate-e2e');
        t.equal(viewed.clusters[0]!.cluster.server, site.url);
        t.equal(viewed.clusters[0]!.cluster['certificate-authority-data'], 'DATA+OMITTED', 'kubectl sees the embedded CA');
        t.match(viewed.users[0]!.user.exec, { apiVersion: 'client.authentication.k8s.io/v1', command: 'kubegate', interactiveMode: 'IfAvailable', provideClusterInfo: false });
      });

      await t.test('the person cancels at the identity provider: an access_denied page', async (t) => {
        const p = await open(true);
        await p.goto(`${site.url}/kubegate/login`);
        const status = await callbackStatus(p, () => p.click('text=[ Cancel ]'));
        t.equal(status, 403);
        t.equal(await p.textContent('#error-code'), 'LOGIN_ACCESS_DENIED');
        t.match(await p.textContent('#detail'), 'access_denied');
        t.equal(await p.title(), 'Sign-in refused · kubegate');
      });

      await t.test('a callback with a wrong state, and one without a sign-in in progress', async (t) => {
        const p = await open(true);
        await p.goto(`${site.url}/kubegate/login`);
        t.equal(new URL(p.url()).origin, issuer.issuer, 'a sign-in is in progress (flow cookie set)');
        const wrong = await p.goto(`${site.url}${CALLBACK_PATH}?code=forged&state=not-this-browsers`);
        t.equal(wrong?.status(), 400);
        t.equal(await p.textContent('#error-code'), 'LOGIN_STATE_MISMATCH');
        const none = await p.goto(`${site.url}${CALLBACK_PATH}?code=forged&state=x`);
        t.equal(none?.status(), 400, 'the flow cookie was cleared by the previous callback');
        t.equal(await p.textContent('#error-code'), 'LOGIN_FLOW_MISSING');
      });

      t.same(cspViolations, [], 'no Content-Security-Policy violation reported');
      t.comment(`requests blocked (not loopback): ${[...new Set(blocked)].join(', ') || 'none'}`);
    } finally {
      if (t.counts.fail > 0 || !t.passing()) {
        t.saveFixture = true;
        const dir = t.testdir({});
        for (const [i, p] of pages.entries()) {
          await p.screenshot({ path: join(dir, `page-${i}.png`), fullPage: true }).catch(() => undefined);
        }
        t.comment(`screenshots of the failed run: ${dir}`);
      }
    }
    t.comment(`browser test took ${Date.now() - started} ms`);
  });
}
