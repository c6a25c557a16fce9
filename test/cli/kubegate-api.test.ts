/**
 * The elevation API client, through the real command line (`kubegate elevations list` in a child process)
 * against the recording stub of kubegate's elevation API: which kubeconfig and context are used
 * (--kubeconfig, --context, the KUBECONFIG list merged as kubectl does), that the person's credential is
 * sent (static token, exec credential plugin), that the server URL's path prefix is kept, that TLS is
 * always verified (insecure-skip-tls-verify refused, a wrong CA refused even with
 * NODE_TLS_REJECT_UNAUTHORIZED=0, no credential ever sent then), and the clear messages for no elevation
 * API, no connection, a refused credential and a failing plugin. In-process: the deadline, the size bound
 * and a non-Status answer.
 */
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, delimiter } from 'node:path';
import net from 'node:net';
import { createPki } from '../support/pki.js';
import { startElevationApiStub } from '../support/elevation-api-stub.js';
import { cleanEnv, kubegate, writeExecPlugin, writeKubeconfig } from './cli-harness.js';
import { createElevationClient, KubegateApiError, MAX_RESPONSE_BYTES } from '../../src/cli/kubegate-api.js';

const pki = createPki();
const serving = pki.server();
const otherPki = createPki();
const dir = mkdtempSync(join(tmpdir(), 'kubegate-cli-api-'));
const home = mkdtempSync(join(tmpdir(), 'kubegate-cli-home-'));
t.teardown(() => {
  pki.cleanup();
  otherPki.cleanup();
  rmSync(dir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});
const env = (extra: NodeJS.ProcessEnv = {}) => cleanEnv(home, extra);
let n = 0;
const file = (name: string) => join(dir, `${++n}-${name}`);

t.test('a static-token kubeconfig: the request carries Authorization: Bearer <token> to the collection', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(file('static.kubeconfig'), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-alice' }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(stub.requests.length, 1);
  t.equal(stub.requests[0]!.method, 'GET');
  t.equal(stub.requests[0]!.path, '/kubegate/v1/elevations');
  t.equal(stub.requests[0]!.authorization, 'Bearer tok-alice');
  t.notOk(r.stdout.includes('tok-alice') || r.stderr.includes('tok-alice'), 'the token is never printed');
});

t.test('an exec-plugin kubeconfig: the plugin runs (told it cannot prompt) and its token is the bearer', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const log = file('plugin.log');
  const exec = writeExecPlugin(file('plugin.mjs'), { token: 'tok-bob', logFile: log });
  const kc = writeKubeconfig(file('exec.kubeconfig'), [{ name: 'prod', server: stub.url, caFile: pki.caFile, exec }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(stub.requests.length, 1);
  t.equal(stub.requests[0]!.authorization, 'Bearer tok-bob');
  const runs = readFileSync(log, 'utf8').trim().split('\n');
  t.equal(runs.length, 1, 'the plugin ran once');
  t.match(JSON.parse(runs[0]!), { kind: 'ExecCredential', apiVersion: 'client.authentication.k8s.io/v1', spec: { interactive: false } });
});

t.test('a failing exec plugin: exit 1 naming the user and quoting the plugin, nothing sent', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const exec = writeExecPlugin(file('failing.mjs'), { token: 'x', logFile: file('failing.log'), fail: 'no cached login: run kubegate login' });
  const kc = writeKubeconfig(file('failing.kubeconfig'), [{ name: 'oidc-user', server: stub.url, caFile: pki.caFile, exec }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 1);
  t.match(r.stderr, 'cannot get the credential of kubeconfig user "oidc-user"');
  t.match(r.stderr, 'no cached login: run kubegate login');
  t.equal(stub.requests.length, 0);
});

t.test("the server URL's path prefix is kept", async (t) => {
  const stub = await startElevationApiStub({ serving, pathPrefix: '/gate' });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(file('prefix.kubeconfig'), [{ name: 'prod', server: `${stub.url}/`, caFile: pki.caFile, token: 'tok-alice' }]);
  const r = await kubegate(['elevations', 'get', 'elev-9', '--kubeconfig', kc], env());
  t.equal(r.code, 1, 'no such elevation in the stub');
  t.match(r.stderr, 'no such elevation', 'the stub answered under its prefix');
  t.equal(stub.requests[0]!.path, '/gate/kubegate/v1/elevations/elev-9');
});

t.test('--context selects a context other than the current one', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(
    file('two.kubeconfig'),
    [
      { name: 'dev', server: 'https://127.0.0.1:1', caFile: pki.caFile, token: 'tok-dev' },
      { name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-carol' },
    ],
    'dev',
  );
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc, '--context', 'prod'], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(stub.requests[0]!.authorization, 'Bearer tok-carol');

  const unknown = await kubegate(['elevations', 'list', '--kubeconfig', kc, '--context', 'staging'], env());
  t.equal(unknown.code, 1);
  t.match(unknown.stderr, 'context "staging" is not in the kubeconfig');
  t.match(unknown.stderr, '"dev", "prod"');
});

t.test('KUBECONFIG lists are merged as kubectl does: missing files skipped, the first definition and current-context win', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const first = writeKubeconfig(file('first.kubeconfig'), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-alice' }], 'prod');
  const second = writeKubeconfig(file('second.kubeconfig'), [
    { name: 'prod', server: 'https://127.0.0.1:1', caFile: pki.caFile, token: 'tok-shadowed' },
    { name: 'other', server: 'https://127.0.0.1:1', caFile: pki.caFile, token: 'tok-other' },
  ], 'other');
  const list = [join(dir, 'does-not-exist'), first, second].join(delimiter);
  const r = await kubegate(['elevations', 'list'], env({ KUBECONFIG: list }));
  t.equal(r.code, 0, r.stderr);
  t.equal(stub.requests.length, 1);
  t.equal(stub.requests[0]!.authorization, 'Bearer tok-alice');
});

t.test('no kubeconfig at all: exit 1 saying so', async (t) => {
  const r = await kubegate(['elevations', 'list'], env());
  t.equal(r.code, 1);
  t.match(r.stderr, 'no kubeconfig');
  t.match(r.stderr, '--kubeconfig');
});

t.test('insecure-skip-tls-verify: refused before any credential is produced or sent', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const log = file('insecure-plugin.log');
  const exec = writeExecPlugin(file('insecure-plugin.mjs'), { token: 'tok-alice', logFile: log });
  const kc = writeKubeconfig(file('insecure.kubeconfig'), [{ name: 'prod', server: stub.url, insecure: true, exec }]);
  for (const args of [['elevations', 'list'], ['sudo', '--group', 'oncall-admin', '--for', '15m', '--reason', 'INC-1']]) {
    const r = await kubegate([...args, '--kubeconfig', kc], env());
    t.equal(r.code, 1, String(args[0]));
    t.match(r.stderr, 'insecure-skip-tls-verify');
    t.match(r.stderr, 'certificate-authority');
  }
  t.equal(stub.requests.length, 0, 'nothing reached the server');
  t.throws(() => readFileSync(log), 'the credential plugin never ran');
});

t.test('a server certificate that does not verify: exit 1 with the URL, even with NODE_TLS_REJECT_UNAUTHORIZED=0', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(file('wrong-ca.kubeconfig'), [{ name: 'prod', server: stub.url, caFile: otherPki.caFile, token: 'tok-alice' }]);
  for (const extra of [{}, { NODE_TLS_REJECT_UNAUTHORIZED: '0' }]) {
    const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env(extra));
    t.equal(r.code, 1);
    t.match(r.stderr, `cannot reach kubegate at ${stub.url}/kubegate/v1/elevations`);
    t.match(r.stderr, 'does not verify');
  }
  t.equal(stub.requests.length, 0, 'no request (and so no token) got through');
});

t.test('an http:// server: refused', async (t) => {
  const kc = writeKubeconfig(file('http.kubeconfig'), [{ name: 'prod', server: 'http://127.0.0.1:8080', token: 'tok-alice' }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 1);
  t.match(r.stderr, 'only spoken over https');
});

t.test('no elevation API (404 on the collection): the clear message, for a kubegate without elevation and for a plain API server', async (t) => {
  const disabled = await startElevationApiStub({ serving, enabled: false });
  const elsewhere = await startElevationApiStub({ serving, pathPrefix: '/other' });
  t.teardown(() => Promise.all([disabled.close(), elsewhere.close()]));
  for (const server of [disabled.url, elsewhere.url.replace('/other', '')]) {
    const kc = writeKubeconfig(file('noapi.kubeconfig'), [{ name: 'prod', server, caFile: pki.caFile, token: 'tok-alice' }]);
    for (const args of [['elevations', 'list'], ['sudo', '--group', 'oncall-admin', '--for', '15m', '--reason', 'INC-1']]) {
      const r = await kubegate([...args, '--kubeconfig', kc], env());
      t.equal(r.code, 1, `${args[0]} → ${server}`);
      t.match(r.stderr, `kubegate has no elevation API at ${server}/kubegate/v1/elevations (is elevation configured?)`);
      t.equal(r.stdout, '');
    }
  }
});

t.test('nothing listening: exit 1 naming the URL', async (t) => {
  const port = await new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
  const kc = writeKubeconfig(file('closed.kubeconfig'), [{ name: 'prod', server: `https://127.0.0.1:${port}`, caFile: pki.caFile, token: 'tok-alice' }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 1);
  t.match(r.stderr, `cannot reach kubegate at https://127.0.0.1:${port}/kubegate/v1/elevations`);
  t.match(r.stderr, 'ECONNREFUSED');
});

t.test('a token kubegate does not accept: exit 1 with Unauthorized and what to do', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(file('badtoken.kubeconfig'), [{ name: 'me', server: stub.url, caFile: pki.caFile, token: 'tok-expired' }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 1);
  t.match(r.stderr, /kubegate elevations: Unauthorized \(kubegate did not accept the credential of kubeconfig user "me": log in again\)/);
});

t.test('in-process: the deadline, the size bound and a non-Status answer', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kubeconfig = writeKubeconfig(file('inproc.kubeconfig'), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-alice' }]);
  // A short deadline only where the stub never answers (it cannot expire too early there); a long one where
  // an answer is expected, so a loaded machine cannot turn an answer into API_TIMEOUT.
  const impatient = createElevationClient({ kubeconfig, timeoutMs: 300, env: {} });
  const client = createElevationClient({ kubeconfig, timeoutMs: 60_000, env: {} });
  t.equal(client.url, `${stub.url}/kubegate/v1/elevations`);

  stub.answerNext({ method: 'GET' }, () => true); // never answers
  const slow = await impatient.list().catch((e: unknown) => e);
  t.ok(slow instanceof KubegateApiError);
  t.match(slow, { code: 'API_TIMEOUT', transient: true });

  stub.answerNext({ method: 'GET' }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(`{"items":["${'x'.repeat(MAX_RESPONSE_BYTES)}"]}`);
    return true;
  });
  t.match(await client.list().catch((e: unknown) => e), { code: 'API_BAD_RESPONSE', message: /larger than/ });

  stub.answerNext({ method: 'GET' }, (_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>Bad Gateway\x1b[2J</html>');
    return true;
  });
  const html = await client.list().catch((e: unknown) => e);
  t.match(html, { code: 'API_BAD_RESPONSE', status: 502, transient: true, message: /answered 502 without a Kubernetes Status: <html>Bad Gateway\?\[2J<\/html>/ });

  stub.answerNext({ method: 'GET' }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end('{"items":[{"id":"elev-1"}]}');
    return true;
  });
  t.match(await client.list().catch((e: unknown) => e), { code: 'API_BAD_RESPONSE', message: /not an ElevationList/ });

  t.match(await client.list(), { items: [] }, 'and the next answer is read normally');
});
