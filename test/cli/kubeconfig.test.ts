/**
 * `kubegate kubeconfig`: the kubeconfig it prints or writes (checked field by field and by `kubectl config
 * view`), merging into an existing kubeconfig without touching other entries, and — end to end — the real
 * kubectl 1.32 running `kubegate login` from that kubeconfig, through kubegate (in-process, real TLS) to the
 * recording fake API server, showing the mapped identity in `kubectl auth whoami`:
 *
 * 1. kubectl without a terminal: the plugin refuses to sign in and tells the person what to run;
 * 2. kubectl in a pseudo-terminal (`script`): the plugin opens $BROWSER (the test browser), signs in;
 * 3. kubectl without a terminal again: the cached token is used, the issuer is not contacted.
 */
import { execFile } from 'node:child_process';
import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { cleanEnv, kubegate, REPO } from './cli-harness.js';
import { KUBECTL, startHarness } from '../support/harness.js';
import { startLoginWorld } from '../login/support/world.js';
import { createPki } from '../support/pki.js';

interface Kubeconfig {
  apiVersion: string;
  kind: string;
  'current-context': string;
  clusters: { name: string; cluster: Record<string, unknown> }[];
  users: { name: string; user: { exec?: Record<string, unknown>; token?: string } }[];
  contexts: { name: string; context: Record<string, unknown> }[];
  [k: string]: unknown;
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv, timeout = 60_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { env, timeout }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    }).stdin?.end();
  });
}

function temp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-kubeconfig-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('printed on stdout: cluster, exec user, context', async (t) => {
  const dir = temp(t);
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const r = await kubegate([
    'kubeconfig', '--server', 'https://kubegate.example:8443', '--certificate-authority', pki.caFile,
    '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--scopes', 'groups,offline_access', '--scopes', 'email',
  ], cleanEnv(dir));
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr, '');
  const kc = YAML.parse(r.stdout) as Kubeconfig;
  t.equal(kc.apiVersion, 'v1');
  t.equal(kc.kind, 'Config');
  t.same(kc.clusters, [{ name: 'kubegate.example:8443', cluster: { server: 'https://kubegate.example:8443', 'certificate-authority': pki.caFile } }]);
  t.same(kc.contexts, [{ name: 'kubegate.example:8443', context: { cluster: 'kubegate.example:8443', user: 'kubegate.example:8443-oidc' } }]);
  t.equal(kc['current-context'], 'kubegate.example:8443');
  t.equal(kc.users.length, 1);
  t.equal(kc.users[0]!.name, 'kubegate.example:8443-oidc');
  const exec = kc.users[0]!.user.exec!;
  t.equal(exec.apiVersion, 'client.authentication.k8s.io/v1');
  t.equal(exec.command, 'kubegate');
  t.same(exec.args, ['login', '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--scopes', 'openid,groups,offline_access,email']);
  t.equal(exec.interactiveMode, 'IfAvailable', 'not Always: kubectl often runs without a terminal');
  t.equal(exec.provideClusterInfo, false);
  t.match(exec.installHint, /kubegate/);

  // every login setting travels in exec.args
  const all = await kubegate([
    'kubeconfig', '--server', 'https://kubegate.example', '--certificate-authority', pki.caFile, '--embed-certs',
    '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--client-secret', 'not-so-secret',
    '--issuer-certificate-authority', pki.caFile, '--grant', 'device', '--listen-port', '18000', '--auth-param', 'access_type=offline',
    '--cluster-name', 'prod', '--user-name', 'me', '--context-name', 'prod-me', '--namespace', 'team-a', '--exec-command', '/opt/kubegate/bin/kubegate',
  ], cleanEnv(dir));
  t.equal(all.code, 0, all.stderr);
  const kc2 = YAML.parse(all.stdout) as Kubeconfig;
  t.same(kc2.clusters[0], { name: 'prod', cluster: { server: 'https://kubegate.example', 'certificate-authority-data': Buffer.from(pki.ca).toString('base64') } });
  t.same(kc2.contexts[0], { name: 'prod-me', context: { cluster: 'prod', user: 'me', namespace: 'team-a' } });
  t.equal(kc2.users[0]!.user.exec!.command, '/opt/kubegate/bin/kubegate');
  t.same(kc2.users[0]!.user.exec!.args, [
    'login', '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--certificate-authority', pki.caFile,
    '--grant', 'device', '--listen-port', '18000', '--client-secret', 'not-so-secret', '--auth-param', 'access_type=offline',
  ]);

  for (const [args, message] of [
    [['kubeconfig', '--issuer', 'https://i.example', '--client-id', 'c'], /--server is required/],
    [['kubeconfig', '--server', 'http://k.example', '--issuer', 'https://i.example', '--client-id', 'c'], /--server must be an https URL/],
    [['kubeconfig', '--server', 'https://k.example', '--client-id', 'c'], /--issuer is required/],
    [['kubeconfig', '--server', 'https://k.example', '--issuer', 'https://i.example', '--client-id', 'c', '--output', 'f', '--merge'], /exclude each other/],
    [['kubeconfig', '--server', 'https://k.example', '--issuer', 'https://i.example', '--client-id', 'c', '--certificate-authority', '/nonexistent'], /--certificate-authority \/nonexistent/],
    [['kubeconfig', '--server', 'https://k.example', '--issuer', 'https://i.example', '--client-id', 'c', '--embed-certs'], /--embed-certs needs --certificate-authority/],
  ] as const) {
    const bad = await kubegate([...args], cleanEnv(dir));
    t.equal(bad.code, 2, args.join(' '));
    t.match(bad.stderr, message);
  }
});

t.test('--output FILE: a new 0600 file that kubectl config view accepts; never overwritten', async (t) => {
  const dir = temp(t);
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const file = join(dir, 'sub', 'kubegate.kubeconfig');
  const args = ['kubeconfig', '--server', 'https://127.0.0.1:6443', '--certificate-authority', pki.caFile, '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--output', file];
  const r = await kubegate(args, cleanEnv(dir));
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '');
  t.match(r.stderr, `Wrote ${file}`);
  t.equal(statSync(file).mode & 0o777, 0o600);
  const view = await run(KUBECTL, ['config', 'view', '--kubeconfig', file, '-o', 'json'], { PATH: process.env.PATH ?? '', HOME: dir });
  t.equal(view.code, 0, view.stderr);
  const viewed = JSON.parse(view.stdout) as Kubeconfig;
  t.equal(viewed['current-context'], '127.0.0.1:6443');
  t.match(viewed.users[0]!.user.exec, { apiVersion: 'client.authentication.k8s.io/v1', command: 'kubegate', interactiveMode: 'IfAvailable', provideClusterInfo: false });
  const contexts = await run(KUBECTL, ['config', 'get-contexts', '--kubeconfig', file, '-o', 'name'], { PATH: process.env.PATH ?? '', HOME: dir });
  t.equal(contexts.stdout.trim(), '127.0.0.1:6443');

  const again = await kubegate(args, cleanEnv(dir));
  t.equal(again.code, 1);
  t.match(again.stderr, /exists: use --merge --kubeconfig/);
});

t.test('--merge: other entries, comments and settings are left as they were', async (t) => {
  const dir = temp(t);
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const existing = [
    '# my clusters',
    'apiVersion: v1',
    'kind: Config',
    'preferences: {colors: true}',
    'clusters:',
    '- name: home',
    '  cluster: {server: "https://home.example:6443", insecure-skip-tls-verify: true}  # the lab',
    '- name: prod',
    '  cluster: {server: "https://old-prod.example"}',
    'users:',
    '- name: home-admin',
    '  user: {token: "home-token-123"}',
    'contexts:',
    '- name: home',
    '  context: {cluster: home, user: home-admin, namespace: lab}',
    'current-context: home',
    'extensions: [{name: x, extension: {a: 1}}]',
    '',
  ].join('\n');
  const real = join(dir, 'real-config');
  writeFileSync(real, existing, { mode: 0o640 });
  chmodSync(real, 0o640);
  mkdirSync(join(dir, '.kube'));
  symlinkSync(real, join(dir, '.kube', 'config'));
  const before = YAML.parse(existing) as Kubeconfig;

  const r = await kubegate([
    'kubeconfig', '--merge', '--server', 'https://kubegate.example', '--certificate-authority', pki.caFile,
    '--issuer', 'https://login.example.com', '--client-id', 'kubernetes', '--cluster-name', 'prod', '--context-name', 'prod',
  ], cleanEnv(dir));
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, `into ${join(dir, '.kube', 'config')}; current context is now prod`);
  t.ok(lstatSync(join(dir, '.kube', 'config')).isSymbolicLink(), 'the symlink is kept; the real file was replaced');
  t.equal(statSync(real).mode & 0o777, 0o640, 'its permissions are kept');
  const text = readFileSync(real, 'utf8');
  t.match(text, '# my clusters');
  t.match(text, '# the lab');
  const after = YAML.parse(text) as Kubeconfig;
  t.same(after.clusters[0], before.clusters[0], 'the other cluster is untouched');
  t.same(after.clusters[1], { name: 'prod', cluster: { server: 'https://kubegate.example', 'certificate-authority': pki.caFile } }, 'the same-named cluster is replaced in place');
  t.equal(after.clusters.length, 2);
  t.same(after.users[0], before.users[0]);
  t.equal(after.users[1]!.name, 'kubegate.example-oidc');
  t.same(after.contexts[0], before.contexts[0]);
  t.same(after.contexts[1], { name: 'prod', context: { cluster: 'prod', user: 'kubegate.example-oidc' } });
  t.equal(after['current-context'], 'prod');
  t.same(after.preferences, { colors: true });
  t.same(after.extensions, before.extensions);

  const view = await run(KUBECTL, ['config', 'view', '-o', 'json'], { PATH: process.env.PATH ?? '', HOME: dir });
  t.equal(view.code, 0, view.stderr);
  t.equal((JSON.parse(view.stdout) as Kubeconfig)['current-context'], 'prod');

  // the KUBECONFIG list: the first existing file, else the last
  const a = join(dir, 'a.yaml');
  const b = join(dir, 'b.yaml');
  const env = cleanEnv(dir, { KUBECONFIG: `${a}:${b}` });
  const base = ['kubeconfig', '--merge', '--server', 'https://k.example', '--issuer', 'https://login.example.com', '--client-id', 'c'];
  t.equal((await kubegate(base, env)).code, 0);
  t.throws(() => statSync(a), 'a was not created');
  t.equal(statSync(b).mode & 0o777, 0o600, 'the last file was created, 0600');
  writeFileSync(a, 'apiVersion: v1\nkind: Config\n');
  t.equal((await kubegate([...base, '--context-name', 'second'], env)).code, 0);
  t.equal((YAML.parse(readFileSync(a, 'utf8')) as Kubeconfig)['current-context'], 'second', 'an existing file wins');

  writeFileSync(a, 'clusters: {not: a list}\n');
  const broken = await kubegate(base, env);
  t.equal(broken.code, 1);
  t.match(broken.stderr, /"clusters" is not a list/);
  writeFileSync(a, 'key: [unclosed\n');
  t.match((await kubegate(base, env)).stderr, /is not valid YAML/);
});

t.test('real kubectl runs kubegate login from the kubeconfig, through kubegate, and shows the mapped identity', async (t) => {
  const world = await startLoginWorld();
  t.teardown(() => world.close());
  const harness = await startHarness({ config: { oidc: { issuerUrl: world.issuer.issuer, caFile: world.issuer.caFile, clientId: world.issuer.clientId } } });
  t.teardown(() => harness.close());

  // `kubegate` on PATH, as an installed CLI would be (env -u NODE_OPTIONS: see cli-harness.ts)
  const bin = join(world.home, 'bin');
  mkdirSync(bin);
  writeFileSync(join(bin, 'kubegate'), `#!/bin/sh\nexec /usr/bin/env -u NODE_OPTIONS ${JSON.stringify(process.execPath)} ${JSON.stringify(join(REPO, 'bin', 'kubegate'))} "$@"\n`);
  chmodSync(join(bin, 'kubegate'), 0o755);
  const env = world.env({ PATH: `${bin}:${process.env.PATH ?? ''}` });

  const kubeconfig = join(world.home, 'kubegate.kubeconfig');
  const written = await run(join(bin, 'kubegate'), [
    'kubeconfig', '--server', harness.kubegate.url, '--certificate-authority', harness.pki.caFile,
    '--issuer', world.issuer.issuer, '--client-id', world.issuer.clientId, '--scopes', 'email,groups,offline_access',
    '--issuer-certificate-authority', world.issuer.caFile, '--output', kubeconfig,
  ], env);
  t.equal(written.code, 0, written.stderr);

  // kubegate itself read the issuer's discovery document and keys when it started; count from here.
  const atStart = world.issuer.requests.length;

  // 1. no terminal: the plugin is run non-interactively and refuses to sign in, saying what to run
  const whoami = ['--kubeconfig', kubeconfig, '--request-timeout=20s', 'auth', 'whoami', '-o', 'json'];
  const refused = await run(KUBECTL, whoami, env);
  t.not(refused.code, 0);
  t.match(refused.stderr, /cannot open a browser or wait for you/);
  t.match(refused.stderr, `kubegate login --issuer ${world.issuer.issuer} --client-id kubegate --scopes openid,email,groups,offline_access --certificate-authority ${world.issuer.caFile}`);
  t.equal(world.browserRuns().length, 0, 'no browser');
  t.equal(world.issuer.requests.length, atStart, 'the issuer was not contacted');

  // 2. in a terminal: kubectl runs the plugin interactively; it opens $BROWSER and signs in
  const started = Date.now();
  const quoted = [KUBECTL, ...whoami].map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(' ');
  const tty = await run('/usr/bin/script', ['-qec', quoted, '/dev/null'], env);
  t.comment(`kubectl auth whoami with a sign-in took ${Date.now() - started} ms`);
  const out = tty.stdout.replace(/\r/g, '');
  t.equal(tty.code, 0, out);
  t.match(out, /Opened the browser to sign in/, "the plugin's messages reach the terminal");
  const shown = JSON.parse(out.slice(out.indexOf('{\n'))) as { status: { userInfo: { username: string; groups: string[] } } };
  t.equal(shown.status.userInfo.username, 'alice@example.com', 'the mapped identity');
  t.same(shown.status.userInfo.groups, ['developers', 'on-call', 'system:authenticated']);
  t.equal(world.browserRuns().length, 1);

  // 3. no terminal again: the cached token, nothing contacted
  const before = world.issuer.requests.length;
  const t0 = Date.now();
  const cached = await run(KUBECTL, whoami, env);
  t.comment(`kubectl auth whoami from the cache took ${Date.now() - t0} ms`);
  t.equal(cached.code, 0, cached.stderr);
  t.equal((JSON.parse(cached.stdout) as typeof shown).status.userInfo.username, 'alice@example.com');
  t.same(world.issuer.requests.slice(before).map((q) => `${q.method} ${q.path}`), [], 'the plugin did not contact the issuer');

  // the token is in the plugin's cache and in no other file kubectl or the plugin wrote
  const cacheFiles = readdirSync(world.cacheDir).filter((f) => f.endsWith('.json'));
  t.equal(cacheFiles.length, 1);
  const token = (JSON.parse(readFileSync(join(world.cacheDir, cacheFiles[0]!), 'utf8')) as { idToken: string }).idToken;
  const holders = readdirSync(world.home, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && readFileSync(join(e.parentPath, e.name), 'utf8').includes(token))
    .map((e) => join(e.parentPath, e.name));
  t.same(holders, [join(world.cacheDir, cacheFiles[0]!)], 'kubectl cached no token on disk');

  // the request reached the fake API server as alice, impersonated by kubegate
  const seen = harness.fake.requests.filter((q) => q.url.includes('selfsubjectreviews'));
  t.ok(seen.length >= 2);
  t.same(seen.at(-1)!.all('impersonate-user'), ['alice@example.com']);
  t.ok(seen.every((q) => q.credentialOk), "with kubegate's own credential");
});
