/**
 * check-config opens what serve opens at start-up, and serve refuses a CA file that holds no certificate
 * (Node would ignore it silently): each problem names the setting, the flag and the file. `--offline`
 * opens nothing, and every YAML config in examples/ passes it (globbed, so new examples are covered).
 * Run as a user would: bin/kubegate in a child process.
 */
import t from 'tap';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cleanEnv, kubegate, REPO } from './cli-harness.js';
import { createPki } from '../support/pki.js';

const pki = createPki();
t.teardown(() => pki.cleanup());
const env = cleanEnv(pki.dir);
const serving = pki.server();
const other = pki.server('other');
const upstream = join(pki.dir, 'upstream.kubeconfig');
const kubeconfig = (current: string | undefined) =>
  [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- {name: c, cluster: {server: "https://api.cluster.example.com:6443", certificate-authority: ${JSON.stringify(pki.caFile)}}}`,
    'users:',
    '- {name: u, user: {token: "upstream-token-not-printed"}}',
    'contexts:',
    '- {name: c, context: {cluster: c, user: u}}',
    ...(current ? [`current-context: ${current}`] : []),
    '',
  ].join('\n');
writeFileSync(upstream, kubeconfig('c'));
const garbageCa = join(pki.dir, 'garbage-ca.pem');
writeFileSync(garbageCa, 'this is not a certificate\n');

const base = {
  'tls-cert-file': serving.certFile,
  'tls-private-key-file': serving.keyFile,
  'oidc-issuer-url': 'https://login.example.com',
  'oidc-client-id': 'kubernetes',
  kubeconfig: upstream,
};
const flags = (overrides: Record<string, string> = {}) => Object.entries({ ...base, ...overrides }).flatMap(([name, value]) => [`--${name}`, value]);

t.test('control: everything in order', async (t) => {
  const r = await kubegate(['check-config', ...flags({ 'oidc-ca-file': pki.caFile })], env);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'configuration OK');
});

t.test('a garbage --oidc-ca-file is refused naming the file, by check-config and by serve at start-up', async (t) => {
  for (const command of ['check-config', 'serve']) {
    const r = await kubegate([command, ...flags({ 'oidc-ca-file': garbageCa, 'secure-port': '0', 'metrics-bind-address': '0' })], env);
    t.equal(r.code, 1, `${command}: exit 1`);
    t.match(r.stderr, `oidc.caFile (--oidc-ca-file): ${garbageCa} holds no PEM certificate`, command);
    t.notMatch(r.stderr, /something went wrong|fetch failed/);
  }
  const missing = await kubegate(['check-config', ...flags({ 'oidc-ca-file': join(pki.dir, 'nope.pem') })], env);
  t.match(missing.stderr, `oidc.caFile (--oidc-ca-file): cannot read ${join(pki.dir, 'nope.pem')}: no such file`);
});

t.test('a TLS key that does not belong to the certificate', async (t) => {
  const r = await kubegate(['check-config', ...flags({ 'tls-private-key-file': other.keyFile })], env);
  t.equal(r.code, 1);
  t.match(r.stderr, `server.tlsPrivateKeyFile (--tls-private-key-file): the key in ${other.keyFile} does not belong to the certificate in ${serving.certFile}`);
});

t.test("the audit log's directory: missing, or not writable", async (t) => {
  const missing = await kubegate(['check-config', ...flags({ 'audit-log-path': join(pki.dir, 'no-such-dir', 'audit.log') })], env);
  t.equal(missing.code, 1);
  t.match(missing.stderr, `audit.logPath (--audit-log-path): the directory ${join(pki.dir, 'no-such-dir')} does not exist`);
  if (process.getuid?.() !== 0) {
    const locked = join(pki.dir, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    t.teardown(() => chmodSync(locked, 0o700));
    const r = await kubegate(['check-config', ...flags({ 'audit-log-path': join(locked, 'audit.log') })], env);
    t.equal(r.code, 1);
    t.match(r.stderr, `the directory ${locked} is not writable`);
  }
  const ok = await kubegate(['check-config', ...flags({ 'audit-log-path': join(pki.dir, 'audit.log') })], env);
  t.equal(ok.code, 0, ok.stderr);
});

t.test('an upstream kubeconfig without a current context', async (t) => {
  const file = join(pki.dir, 'no-current.kubeconfig');
  writeFileSync(file, kubeconfig(undefined));
  const r = await kubegate(['check-config', ...flags({ kubeconfig: file })], env);
  t.equal(r.code, 1);
  t.match(r.stderr, 'upstream.kubeconfig (--kubeconfig):');
  t.notOk((r.stdout + r.stderr).includes('upstream-token-not-printed'));
});

t.test('every problem at once', async (t) => {
  const r = await kubegate(['check-config', ...flags({ 'oidc-ca-file': garbageCa, 'tls-private-key-file': other.keyFile, 'audit-log-path': join(pki.dir, 'x', 'a.log') })], env);
  t.equal(r.code, 1);
  t.match(r.stderr, 'oidc.caFile');
  t.match(r.stderr, 'server.tlsPrivateKeyFile');
  t.match(r.stderr, 'audit.logPath');
});

t.test('--offline opens no file: missing files pass, bad settings still fail', async (t) => {
  const none = join(pki.dir, 'absent');
  const r = await kubegate(['check-config', '--offline', ...flags({ 'tls-cert-file': `${none}.crt`, 'tls-private-key-file': `${none}.key`, 'oidc-ca-file': `${none}-ca.crt`, kubeconfig: `${none}.kubeconfig` })], env);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, 'offline: settings only');
  t.match(r.stdout, `kubeconfig ${none}.kubeconfig (not opened: --offline)`);
  const bad = await kubegate(['check-config', '--offline', ...flags({ 'oidc-issuer-url': 'http://login.example.com' })], env);
  t.equal(bad.code, 1);
  t.match(bad.stderr, 'oidc.issuerUrl (--oidc-issuer-url)');
});

/**
 * Every *.yaml under examples/ that is a kubegate config. Files in a Kubernetes format (a top-level `kind`:
 * an AuthenticationConfiguration, an audit Policy) are skipped here: a kubegate config names them, and
 * check-config reads them through it, offline too.
 */
function exampleConfigs(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...exampleConfigs(path));
    else if (/\.ya?ml$/.test(name) && !/^kind:/m.test(readFileSync(path, 'utf8'))) out.push(path);
  }
  return out.sort();
}

t.test('check-config --offline passes on every YAML config in examples/', async (t) => {
  const files = exampleConfigs(join(REPO, 'examples'));
  t.ok(files.length >= 6, `found ${files.length} example configs`);
  for (const file of files) {
    const r = await kubegate(['check-config', '--offline', '--config', file], env);
    t.equal(r.code, 0, `${relative(REPO, file)}: ${r.stderr}`);
  }
});
