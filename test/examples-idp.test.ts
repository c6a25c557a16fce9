/**
 * examples/idp/: one complete kubegate configuration per identity provider. Each validates, builds the
 * sign-in page's settings, and hands out a kubeconfig kubectl reads; one also passes `kubegate check-config`
 * run as a user would (bin/kubegate in a child), with the serving certificate and kubegate's own kubeconfig
 * pointed at test files by flags (flags win over the file).
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { loginPageSettings } from '../src/routes/login-page.js';
import { kubeconfigYaml } from '../src/routes/login-page/kubeconfig.js';
import { createPki } from './support/pki.js';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const DIR = join(REPO, 'examples', 'idp');
const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
const PROVIDERS = ['dex', 'keycloak', 'entra-id', 'okta', 'google'];
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

/** Stand-ins for the files the examples name (secrets, cookie key, CAs): none exist on this machine. */
const fakeFile = (path: string): Buffer => Buffer.from(/cookie/.test(path) ? 'k'.repeat(64) : /\.(crt|pem)$/.test(path) ? PEM : 'secret-from-file');

function run(file: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { cwd: REPO, timeout: 60_000, ...(env ? { env } : {}) }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

t.test('one example per provider, each a valid configuration with the sign-in page', async (t) => {
  const files = readdirSync(DIR).filter((f) => f.endsWith('.yaml')).sort();
  t.same(files, PROVIDERS.map((p) => `${p}.yaml`).sort(), 'exactly the documented providers');
  const pki = createPki();
  t.teardown(() => pki.cleanup());

  for (const provider of PROVIDERS) {
    await t.test(provider, async (t) => {
      const { config } = loadConfig(['--config', join(DIR, `${provider}.yaml`)], {});
      const o = config.oidc!;
      t.match(o.issuerUrl, /^https:\/\//);
      t.equal(config.identity.allowSystemNames, false, 'never lets the IdP mint system: names');
      t.equal(config.loginPage?.enabled, true, 'the sign-in page is on');
      t.ok(config.loginPage?.publicUrl, 'with a public URL');
      t.ok(config.loginPage?.scopes.includes('openid'));

      const settings = loginPageSettings(config, fakeFile)!;
      t.equal(settings.kubeconfig.clientId, o.clientId, 'kubegate login signs in with the audience kubegate accepts');
      t.equal(`${settings.publicUrl}/kubegate/login/callback`, 'https://kubegate.example.com/kubegate/login/callback', 'the redirect URI the comments register');
      if (config.loginPage?.clientSecretFile !== undefined) t.equal(settings.clientSecret, 'secret-from-file', 'the secret comes from a file');
      t.equal(settings.cookieKey?.length, 32, 'a cookie key file, shared by replicas');

      if (!existsSync(KUBECTL)) return;
      const file = join(pki.dir, `${provider}.kubeconfig`);
      writeFileSync(file, kubeconfigYaml(settings.kubeconfig));
      const view = await run(KUBECTL, ['config', 'view', '--kubeconfig', file, '-o', 'json']);
      t.equal(view.code, 0, `kubectl config view: ${view.stderr}`);
      const exec = (JSON.parse(view.stdout) as { users: { user: { exec: { args: string[] } } }[] }).users[0]!.user.exec;
      t.same(exec.args.slice(0, 5), ['login', '--issuer', o.issuerUrl, '--client-id', o.clientId]);
    });
  }

  const load = (p: string) => loadConfig(['--config', join(DIR, `${p}.yaml`)], {}).config;
  const entra = load('entra-id');
  const tenant = /^https:\/\/login\.microsoftonline\.com\/([0-9a-f-]{36})\/v2\.0$/.exec(entra.oidc!.issuerUrl)?.[1];
  t.ok(tenant, 'Entra ID: the v2.0 issuer of one tenant');
  t.equal(entra.oidc!.requiredClaims.tid, tenant, 'Entra ID: tokens of that tenant only');
  t.not(entra.oidc!.usernameClaim, 'email', 'Entra ID: the unverified email claim is not the username');
  const google = load('google');
  t.equal(google.oidc!.issuerUrl, 'https://accounts.google.com');
  t.ok(google.oidc!.requiredClaims.hd, 'Google: only the Workspace domain');
  t.equal(google.oidc!.groupsClaim, undefined, 'Google: no groups claim');
  t.equal(google.loginPage?.kubeconfig.authParams.access_type, 'offline', 'Google: refresh tokens via access_type=offline');
  t.match(load('keycloak').oidc!.issuerUrl, /\/realms\/[^/]+$/, 'Keycloak: a realm issuer');
  t.match(load('okta').oidc!.issuerUrl, /\.okta\.com\/oauth2\/[^/]+$/, 'Okta: a custom authorization server');
  t.equal(load('dex').oidc!.groupsClaim, 'groups');
});

t.test('kubegate check-config --config examples/idp/dex.yaml (TLS, cookie key and upstream files from flags)', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  const cookieKey = join(pki.dir, 'cookie-key');
  writeFileSync(cookieKey, 'k'.repeat(64), { mode: 0o600 });
  const upstream = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(
    upstream,
    YAML.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'c', cluster: { server: 'https://api.cluster.example.com:6443', 'certificate-authority': pki.caFile } }],
      users: [{ name: 'u', user: { token: 'upstream-token-not-printed' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'c',
    }),
  );
  // As in test/cli/check-config.test.ts: a user's environment, without tap's hooks (env -u NODE_OPTIONS).
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(KUBEGATE_|KUBERNETES_SERVICE_|TAP|_TAPJS_)/.test(name) || name === 'KUBECONFIG' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  const r = await run(
    '/usr/bin/env',
    ['-u', 'NODE_OPTIONS', process.execPath, join(REPO, 'bin', 'kubegate'), 'check-config', '--config', 'examples/idp/dex.yaml', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile, '--kubeconfig', upstream, '--login-page-cookie-key-file', cookieKey],
    env,
  );
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /configuration OK/);
  t.match(r.stdout, 'https://dex.example.com');
  const effective = YAML.parse(r.stdout.slice(r.stdout.indexOf('# effective configuration'))) as { loginPage?: { enabled: boolean; publicUrl: string } };
  t.match(effective.loginPage, { enabled: true, publicUrl: 'https://kubegate.example.com' }, 'the sign-in page settings are in the effective configuration');
  t.notOk(r.stdout.includes('upstream-token-not-printed'));
});
