/** The `loginPage` settings: schema and flags (every problem named with its path and flag), and the plain settings built from them. */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { validateConfig } from '../../src/config/validate.js';
import { loginPageSettings } from '../../src/routes/login-page.js';

const BASE = {
  server: { tlsCertFile: '/tls.crt', tlsPrivateKeyFile: '/tls.key' },
  oidc: { issuerUrl: 'https://login.example.com', clientId: 'kubernetes' },
};
const PEM = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

function issues(loginPage: unknown): string[] {
  const r = validateConfig({ ...BASE, loginPage });
  return r.ok ? [] : r.issues;
}

t.test('schema', async (t) => {
  const absent = validateConfig(BASE);
  t.ok(absent.ok);
  t.equal(absent.ok && absent.config.loginPage, undefined, 'absent: off');

  const full = validateConfig({ ...BASE, loginPage: { enabled: true, publicUrl: 'https://kubegate.example.com' } });
  t.ok(full.ok, full.ok ? '' : full.issues.join('\n'));
  if (full.ok) {
    t.same(full.config.loginPage, {
      enabled: true,
      publicUrl: 'https://kubegate.example.com',
      clientAuthMethod: 'client_secret_basic',
      scopes: ['openid', 'email', 'profile'],
      flowTimeoutSeconds: 600,
      kubeconfig: { name: 'kubegate', command: 'kubegate', authParams: {}, extraArgs: [], installCommand: 'npm install --global kubegate' },
    }, 'defaults');
  }

  const table: [string, unknown, RegExp][] = [
    ['enabled without a public URL', { enabled: true }, /^loginPage\.publicUrl \(--login-page-public-url\): is required when the sign-in page is enabled$/],
    ['an http public URL', { publicUrl: 'http://kubegate.example.com' }, /^loginPage\.publicUrl \(--login-page-public-url\): must be an https URL, got "http:\/\/kubegate\.example\.com"$/],
    ['a public URL with a path', { publicUrl: 'https://example.com/kubegate' }, /^loginPage\.publicUrl \(--login-page-public-url\): must be an origin without a path/],
    ['scopes without openid', { scopes: ['email'] }, /^loginPage\.scopes \(--login-page-scopes\): must include openid$/],
    ['a scope with a comma', { scopes: ['openid', 'a,b'] }, /^loginPage\.scopes\.1 \(--login-page-scopes\): must be one scope/],
    ['a scope with a space', { scopes: ['openid email'] }, /^loginPage\.scopes\.0 \(--login-page-scopes\): must be one scope/],
    ['a flow timeout under a minute', { flowTimeoutSeconds: 5 }, /^loginPage\.flowTimeoutSeconds: /],
    ['an unknown auth method', { clientAuthMethod: 'private_key_jwt' }, /^loginPage\.clientAuthMethod: /],
    ['an unknown key', { clientSecret: 'inline' }, /^loginPage\.clientSecret: unknown setting$/],
    ['a kubeconfig name with spaces', { kubeconfig: { name: 'my cluster' } }, /^loginPage\.kubeconfig\.name: /],
  ];
  for (const [name, section, expected] of table) {
    const found = issues(section);
    t.ok(found.some((i) => expected.test(i)), `${name}: ${found.join(' | ')}`);
  }
});

t.test('flags and environment', async (t) => {
  const required = ['--tls-cert-file', '/c', '--tls-private-key-file', '/k', '--oidc-issuer-url', 'https://login.example.com', '--oidc-client-id', 'kubernetes'];
  const { config } = loadConfig(
    [
      ...required,
      '--login-page',
      '--login-page-public-url', 'https://kubegate.example.com',
      '--login-page-client-id', 'kubegate-page',
      '--login-page-client-secret-file', '/secrets/page',
      '--login-page-scopes', 'openid,email,groups',
      '--login-page-cookie-key-file', '/secrets/cookie',
      '--login-page-kubeconfig-ca-file', '/tls/ca.crt',
    ],
    {},
  );
  t.equal(config.loginPage?.enabled, true);
  t.equal(config.loginPage?.publicUrl, 'https://kubegate.example.com');
  t.equal(config.loginPage?.clientId, 'kubegate-page');
  t.equal(config.loginPage?.clientSecretFile, '/secrets/page');
  t.same(config.loginPage?.scopes, ['openid', 'email', 'groups']);
  t.equal(config.loginPage?.cookieKeyFile, '/secrets/cookie');
  t.equal(config.loginPage?.kubeconfig.certificateAuthorityFile, '/tls/ca.crt');

  const fromEnv = loadConfig(required, { KUBEGATE_LOGIN_PAGE: 'true', KUBEGATE_LOGIN_PAGE_PUBLIC_URL: 'https://k.example.com' }).config;
  t.equal(fromEnv.loginPage?.enabled, true);

  t.throws(() => loadConfig([...required, '--login-page'], {}), /loginPage\.publicUrl \(--login-page-public-url\): is required/);
});

t.test('settings built from the config', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-login-page-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = (name: string, content: string | Buffer) => {
    const path = join(dir, name);
    writeFileSync(path, content);
    return path;
  };
  const config = (loginPage: Record<string, unknown>, oidc: Record<string, unknown> = {}) => {
    const r = validateConfig({ ...BASE, oidc: { ...BASE.oidc, ...oidc }, loginPage });
    if (!r.ok) throw new Error(r.issues.join('\n'));
    return r.config;
  };

  t.equal(loginPageSettings(config({ publicUrl: 'https://k.example.com' })), undefined, 'not enabled: no page');

  const s = loginPageSettings(
    config(
      {
        enabled: true,
        publicUrl: 'https://kubegate.example.com/',
        clientSecretFile: file('secret', '  s3cret\n'),
        cookieKeyFile: file('cookie', 'x'.repeat(48)),
        scopes: ['openid', 'email', 'groups'],
        kubeconfig: { certificateAuthorityFile: file('ca.crt', PEM), extraArgs: ['--listen-port', '8000'] },
      },
      { caFile: file('issuer-ca.crt', PEM), requiredClaims: { hd: 'example.com' } },
    ),
  )!;
  t.equal(s.publicUrl, 'https://kubegate.example.com', 'origin, no trailing slash');
  t.equal(s.clientId, 'kubernetes', 'client id defaults to oidc.clientId');
  t.equal(s.clientSecret, 's3cret', 'secret read and trimmed');
  t.equal(s.cookieKey?.length, 32, 'a 32-byte key derived from the file');
  t.equal(s.issuerCa, PEM);
  t.same(s.requiredClaims, { hd: 'example.com' });
  t.equal(s.kubeconfig.server, 'https://kubegate.example.com');
  t.equal(s.kubeconfig.certificateAuthority, PEM);
  t.equal(s.kubeconfig.clientId, 'kubernetes', 'the CLI signs in with the audience kubegate accepts');
  t.same(s.kubeconfig.scopes, ['openid', 'email', 'groups'], 'kubeconfig scopes default to the page\'s');
  t.same(s.kubeconfig.extraArgs, ['--listen-port', '8000']);

  const again = loginPageSettings(config({ enabled: true, publicUrl: 'https://k.example.com', cookieKeyFile: file('cookie', 'x'.repeat(48)) }))!;
  t.same(again.cookieKey, s.cookieKey, 'the same file gives the same key (replicas share it)');
  const public_ = loginPageSettings(config({ enabled: true, publicUrl: 'https://k.example.com', clientId: 'page', kubeconfig: { scopes: ['openid', 'offline_access'] } }))!;
  t.equal(public_.clientSecret, undefined);
  t.equal(public_.cookieKey, undefined, 'no key file: the page makes a random key');
  t.equal(public_.clientId, 'page');
  t.same(public_.kubeconfig.scopes, ['openid', 'offline_access']);

  const refusals: [string, Record<string, unknown>, RegExp][] = [
    ['a short cookie key', { cookieKeyFile: file('short', 'x'.repeat(31)) }, /loginPage\.cookieKeyFile: .* must hold at least 32 bytes, has 31/],
    ['an empty secret file', { clientSecretFile: file('empty', '\n') }, /loginPage\.clientSecretFile: .* is empty/],
    ['a missing secret file', { clientSecretFile: join(dir, 'nope') }, /loginPage\.clientSecretFile: cannot read/],
    ['a CA file without a certificate', { kubeconfig: { certificateAuthorityFile: file('not-pem', 'hello') } }, /loginPage\.kubeconfig\.certificateAuthorityFile: .* holds no PEM certificate/],
  ];
  for (const [name, extra, expected] of refusals) {
    t.throws(() => loginPageSettings(config({ enabled: true, publicUrl: 'https://k.example.com', ...extra })), { code: 'CONFIG_INVALID', message: expected }, name);
  }
});
