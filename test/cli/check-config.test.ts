/**
 * The command line, as a user runs it: `bin/kubegate` in a child process (the checkout's TypeScript
 * through tsx). check-config validates without serving and never prints kubegate's own credential;
 * bad settings exit 1 naming the setting and its flag; usage and --help.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPki } from '../support/pki.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin', 'kubegate');
const ENV = '/usr/bin/env';
const SECRET = 'super-secret-token-value';
const UPSTREAM = 'https://api.cluster.example.com:6443';

/**
 * The environment a user would have: minus anything that feeds kubegate settings (KUBEGATE_*, the
 * in-cluster variables), and minus tap's own NODE_OPTIONS / TAP* / _TAPJS_* (tap's coverage hook
 * installs a require() hook that cannot load the extension-less ESM bin file).
 */
function cleanEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(KUBEGATE_|KUBERNETES_SERVICE_|TAP|_TAPJS_)/.test(name) || name === 'KUBECONFIG' || name === 'NODE_OPTIONS') continue;
    env[name] = value;
  }
  return env;
}

function kubegate(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    // Through env(1): tap's process tracking wraps child_process and puts its NODE_OPTIONS back into
    // every child's environment; `env -u` removes it right before node starts.
    const child = execFile(ENV, ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { cwd: REPO, env: cleanEnv(), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end();
  });
}

t.test('kubegate check-config', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  const kubeconfigFile = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(
    kubeconfigFile,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters:',
      '- name: prod',
      `  cluster: {server: ${JSON.stringify(UPSTREAM)}, certificate-authority: ${JSON.stringify(pki.caFile)}}`,
      'users:',
      '- name: kubegate',
      `  user: {token: ${JSON.stringify(SECRET)}}`,
      'contexts:',
      '- name: prod',
      '  context: {cluster: prod, user: kubegate}',
      'current-context: prod',
      '',
    ].join('\n'),
  );
  const valid = {
    'tls-cert-file': serving.certFile,
    'tls-private-key-file': serving.keyFile,
    'oidc-issuer-url': 'https://login.example.com',
    'oidc-client-id': 'kubernetes',
    kubeconfig: kubeconfigFile,
  };
  const flags = (overrides: Record<string, string> = {}) => Object.entries({ ...valid, ...overrides }).flatMap(([name, value]) => [`--${name}`, value]);

  t.test('valid settings: exit 0, a summary with the upstream, and the credential redacted', async (t) => {
    const r = await kubegate(['check-config', ...flags()]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /configuration OK/);
    t.match(r.stdout, `upstream:  ${UPSTREAM}`, 'names the API server from the kubeconfig');
    t.match(r.stdout, /\[redacted\]/, 'says the credential is redacted');
    t.match(r.stdout, 'https://login.example.com', 'names the issuer');
    t.notOk(r.stdout.includes(SECRET), 'the token is not on stdout');
    t.notOk(r.stderr.includes(SECRET), 'the token is not on stderr');
  });

  t.test('an http issuer: exit 1 naming oidc.issuerUrl and --oidc-issuer-url', async (t) => {
    const r = await kubegate(['check-config', ...flags({ 'oidc-issuer-url': 'http://login.example.com' })]);
    t.equal(r.code, 1);
    t.match(r.stderr, 'CONFIG_INVALID');
    t.match(r.stderr, 'oidc.issuerUrl');
    t.match(r.stderr, '--oidc-issuer-url');
    t.match(r.stderr, 'http://login.example.com');
    t.notMatch(r.stdout, /configuration OK/);
  });

  t.test('HS256: exit 1 naming oidc.signingAlgs and --oidc-signing-algs', async (t) => {
    const r = await kubegate(['check-config', ...flags({ 'oidc-signing-algs': 'HS256' })]);
    t.equal(r.code, 1);
    t.match(r.stderr, 'CONFIG_INVALID');
    t.match(r.stderr, 'oidc.signingAlgs');
    t.match(r.stderr, '--oidc-signing-algs');
    t.match(r.stderr, 'HS256');
    t.notMatch(r.stdout, /configuration OK/);
  });

  t.test('both at once: every problem is listed', async (t) => {
    const r = await kubegate(['check-config', ...flags({ 'oidc-issuer-url': 'http://login.example.com', 'oidc-signing-algs': 'HS256' })]);
    t.equal(r.code, 1);
    t.match(r.stderr, 'CONFIG_INVALID');
    t.match(r.stderr, 'oidc.issuerUrl (--oidc-issuer-url)');
    t.match(r.stderr, 'oidc.signingAlgs');
    t.match(r.stderr, 'oidc.signingAlgs.0 (--oidc-signing-algs)');
  });

  t.test('an unknown flag: exit 1 naming it, with the flag it probably meant', async (t) => {
    const r = await kubegate(['check-config', ...flags(), '--oidc-issuer', 'https://login.example.com']);
    t.equal(r.code, 1);
    t.match(r.stderr, 'CONFIG_INVALID');
    t.match(r.stderr, '--oidc-issuer: unknown flag; did you mean --oidc-issuer-url?');
    t.notMatch(r.stdout, /configuration OK/);
  });

  t.test('an unknown flag stops there: no cascade of other problems', async (t) => {
    const r = await kubegate(['check-config', '--oidc-issuer', 'x', '--tls-cert', 'y']);
    t.equal(r.code, 1);
    t.match(r.stderr, '--oidc-issuer: unknown flag; did you mean --oidc-issuer-url?');
    t.match(r.stderr, '--tls-cert: unknown flag; did you mean --tls-cert-file?');
    t.notMatch(r.stderr, /is required/, 'the settings it meant to give are not reported missing');
  });

  t.test('an insecure upstream kubeconfig: exit 1 with UPSTREAM_CONFIG, credential still not printed', async (t) => {
    const insecure = join(pki.dir, 'insecure.kubeconfig');
    writeFileSync(
      insecure,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- {name: c, cluster: {server: ${JSON.stringify(UPSTREAM)}, insecure-skip-tls-verify: true}}`,
        `users:`,
        `- {name: u, user: {token: ${JSON.stringify(SECRET)}}}`,
        'contexts:',
        '- {name: c, context: {cluster: c, user: u}}',
        'current-context: c',
        '',
      ].join('\n'),
    );
    const r = await kubegate(['check-config', ...flags({ kubeconfig: insecure })]);
    t.equal(r.code, 1);
    t.match(r.stderr, 'upstream.kubeconfig (--kubeconfig)');
    t.match(r.stderr, 'insecure-skip-tls-verify');
    t.notOk((r.stdout + r.stderr).includes(SECRET));
  });
});

t.test('kubegate usage', async (t) => {
  t.test('no command: exit 2 with usage on stderr', async (t) => {
    const r = await kubegate([]);
    t.equal(r.code, 2);
    t.match(r.stderr, /Usage: kubegate <command>/);
    t.match(r.stderr, /check-config/);
  });

  t.test('an unknown command: exit 2 with usage', async (t) => {
    const r = await kubegate(['sevre']);
    t.equal(r.code, 2);
    t.match(r.stderr, /unknown command "sevre"/);
    t.match(r.stderr, /Usage: kubegate <command>/);
  });

  t.test('serve --help: exit 0 listing the flags', async (t) => {
    const r = await kubegate(['serve', '--help']);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /--oidc-issuer-url/);
    t.match(r.stdout, /--tls-cert-file/);
    t.match(r.stdout, /KUBEGATE_OIDC_ISSUER_URL/);
    const glued = r.stdout.split('\n').filter((line) => /^ {2}--[a-z0-9-]+[A-Z]/.test(line));
    t.same(glued, [], 'every flag is separated from its help text');
  });
});
