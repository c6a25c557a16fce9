/**
 * examples/demo: when the current kubeconfig's cluster is unreachable the demo falls back to its stand-in
 * API server and says why; the stand-in answers every command the banner prints, with the real kubectl:
 * get ns, get pods -A, get pods -w (a real watch: pods come and go), auth can-i, create/delete configmap;
 * a wrong token's refusal is logged at info with its reason.
 */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from './support/wait.js';

const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl'; // not from the harness: it loads oidc-provider here
const home = mkdtempSync(join(tmpdir(), 'kubegate-demo-test-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));

// The "current cluster": a kubeconfig whose server refuses connections.
const closed = net.createServer();
await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
const deadPort = (closed.address() as AddressInfo).port;
await new Promise<void>((resolve) => closed.close(() => resolve()));
const userKubeconfig = join(home, 'config');
writeFileSync(
  userKubeconfig,
  [
    'apiVersion: v1',
    'kind: Config',
    `clusters: [{name: gone, cluster: {server: "https://127.0.0.1:${deadPort}"}}]`,
    'users: [{name: u, user: {token: t}}]',
    'contexts: [{name: gone, context: {cluster: gone, user: u}}]',
    'current-context: gone',
    '',
  ].join('\n'),
);

const env: NodeJS.ProcessEnv = { ...process.env, HOME: home, KUBECONFIG: userKubeconfig, KUBEGATE_DEMO_PORT: '0', KUBEGATE_DEMO_CHURN_MS: '1000' };
delete env.KUBEGATE_DEMO_STANDIN;
delete env.KUBEGATE_LOG_LEVEL;
const demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
t.teardown(() => {
  if (demo.exitCode === null) demo.kill('SIGKILL');
});
let out = '';
let err = '';
demo.stderr.on('data', (c: Buffer) => (err += c.toString()));
const kubeconfig = await new Promise<string>((resolve, reject) => {
  demo.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const m = /kubectl --kubeconfig (\S+) auth whoami\n/.exec(out);
    if (m) resolve(m[1]!);
  });
  demo.on('exit', () => reject(new Error(`demo exited early:\n${out}\n${err}`)));
});

const kubectl = (args: string[], kc = kubeconfig) =>
  new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(KUBECTL, ['--kubeconfig', kc, ...args], { timeout: 30_000 }, (e, stdout, stderr) => resolve({ code: e ? Number((e as { code?: unknown }).code ?? 1) : 0, stdout, stderr })),
  );

t.test('the fallback to the stand-in says why, and the banner prints the commands', async (t) => {
  t.match(out, 'STAND-IN API server');
  t.match(out, `why: the cluster gone (https://127.0.0.1:${deadPort}) of ${userKubeconfig} is not usable: connection refused by 127.0.0.1:${deadPort}`);
  for (const command of ['get ns', 'get pods -A', 'get pods -w', 'auth can-i create configmaps', 'create configmap demo', 'delete configmap demo']) t.match(out, `${kubeconfig} ${command}`);
  t.notMatch(err, /Unsupported runtime/, "the issuer's runtime warning is replaced by the banner's note");
  if (Number(process.versions.node.split('.')[0]) < 22) t.match(out, 'Note: the development issuer (oidc-provider) wants Node.js 22 LTS');
});

t.test('kubectl get ns and get pods -A', async (t) => {
  const ns = await kubectl(['get', 'ns']);
  t.equal(ns.code, 0, ns.stderr);
  t.match(ns.stdout, /^NAME\s+STATUS\s+AGE\n/);
  t.match(ns.stdout, /^kube-system\s+Active/m);
  const pods = await kubectl(['get', 'pods', '-A']);
  t.equal(pods.code, 0, pods.stderr);
  t.match(pods.stdout, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\n/);
  t.match(pods.stdout, /^kube-system\s+coredns-\S+\s+1\/1\s+Running/m);
  t.match(pods.stdout, /^team-a\s+api-/m);
});

t.test('kubectl get pods -w streams real watch events', async (t) => {
  const watch = spawn(KUBECTL, ['--kubeconfig', kubeconfig, 'get', 'pods', '-w'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => watch.kill('SIGKILL'));
  let text = '';
  watch.stdout.on('data', (c: Buffer) => (text += c.toString()));
  // The initial list shows each pod once; a pod on two lines came from the watch (added, then running or deleted).
  const seenTwice = await eventually(
    'a watch event',
    () => {
      const names = [...text.matchAll(/^(job-\d+)\s/gm)].map((m) => m[1]!);
      return names.find((n, i) => names.indexOf(n) !== i);
    },
    60_000,
    50,
  );
  t.match(seenTwice, /^job-\d+$/);
  t.match(text, /^NAME\s+READY\s+STATUS/);
});

t.test('kubectl auth can-i answers from the stand-in RBAC', async (t) => {
  const yes = await kubectl(['auth', 'can-i', 'create', 'configmaps']);
  t.equal(yes.stdout.trim(), 'yes', yes.stderr);
  const no = await kubectl(['auth', 'can-i', 'delete', 'pods']);
  t.equal(no.stdout.trim(), 'no');
  t.equal(no.code, 1);
});

t.test('kubectl create and delete configmap, kept in memory', async (t) => {
  const created = await kubectl(['create', 'configmap', 'demo', '--from-literal=greeting=hello']);
  t.equal(created.code, 0, created.stderr);
  t.match(created.stdout, 'configmap/demo created');
  const got = await kubectl(['get', 'configmap', 'demo', '-o', 'jsonpath={.data.greeting}']);
  t.equal(got.stdout, 'hello', got.stderr);
  t.equal((await kubectl(['create', 'configmap', 'demo'])).code, 1, 'a second create is refused (AlreadyExists)');
  const deleted = await kubectl(['delete', 'configmap', 'demo']);
  t.equal(deleted.code, 0, deleted.stderr);
  t.match(deleted.stdout, 'configmap "demo" deleted');
  const gone = await kubectl(['get', 'configmap', 'demo']);
  t.match(gone.stderr, /NotFound|not found/);
  const elsewhere = await kubectl(['create', 'configmap', 'x', '-n', 'kube-system']);
  t.match(elsewhere.stderr, /forbidden/, 'outside default the stand-in RBAC refuses');
});

t.test('a wrong token: refused, with the reason in the log at info', async (t) => {
  const wrong = join(home, 'wrong.kubeconfig');
  writeFileSync(wrong, readFileSync(kubeconfig, 'utf8').replace(/token: "[^"]*"/, 'token: "not-a-jwt"'));
  const r = await kubectl(['get', 'ns'], wrong);
  t.not(r.code, 0);
  t.match(r.stderr, /Unauthorized/);
  await eventually('the refusal in the log', () => (/"level":"info","message":"request refused"|"message":"request refused"[^\n]*"level":"info"/.test(err) ? true : undefined), 10_000);
  t.pass('logged at info');
});

t.test('stops cleanly', async (t) => {
  demo.kill('SIGTERM');
  t.equal(await exited, 0);
});
