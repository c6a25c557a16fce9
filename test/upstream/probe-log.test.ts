/**
 * Whether kubegate can use the API server is logged with the reason at start-up and at every change
 * between usable and not usable (not only visible in /readyz): connection refused, an untrusted
 * certificate, kubegate's credential refused (401), the API server not ready (5xx). Real TLS, the
 * recording fake API server on 127.0.0.1.
 */
import t from 'tap';
import net, { type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadUpstream, type UpstreamSettings } from '../../src/upstream/upstream.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { captureLogger, type LogLine } from '../support/logs.js';
import { createPki } from '../support/pki.js';
import { eventually } from '../support/wait.js';

const TOKEN = 'kubegate-probe-log-test-token-0123456789';
const pki = createPki();
t.teardown(() => pki.cleanup());

function kubeconfigFile(server: string, caFile: string, token: string): string {
  const file = join(pki.dir, `kc-${Math.random().toString(36).slice(2)}.kubeconfig`);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: ${JSON.stringify(server)}, certificate-authority: ${JSON.stringify(caFile)}}}]`,
      `users: [{name: u, user: {token: ${JSON.stringify(token)}}}]`,
      'contexts: [{name: c, context: {cluster: c, user: u}}]',
      'current-context: c',
      '',
    ].join('\n'),
  );
  return file;
}

async function start(t: { teardown(fn: () => unknown): void }, s: UpstreamSettings): Promise<{ lines: LogLine[] }> {
  const { log, lines } = captureLogger();
  const upstream = await loadUpstream(s, log);
  t.teardown(() => upstream.close());
  return { lines };
}

const verdicts = (lines: LogLine[]) => lines.filter((l) => /^API server (reachable|usable|not usable)/.test(l.message));
const firstVerdict = (lines: LogLine[]) => eventually('the start-up probe to be logged', () => verdicts(lines)[0], 15_000);

t.test('start-up: connection refused, with the address', async (t) => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const { lines } = await start(t, { kubeconfig: kubeconfigFile(`https://127.0.0.1:${port}`, pki.caFile, TOKEN) });
  const line = await firstVerdict(lines);
  t.equal(line.level, 'warn');
  t.match(line.message, `API server not usable: connection refused by 127.0.0.1:${port}`);
  t.notOk(JSON.stringify(lines).includes(TOKEN), 'the credential is never logged');
});

t.test("start-up: a certificate the kubeconfig's CA did not sign", async (t) => {
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const other = createPki();
  t.teardown(() => other.cleanup());
  const { lines } = await start(t, { kubeconfig: kubeconfigFile(fake.url, other.caFile, TOKEN) });
  const line = await firstVerdict(lines);
  t.match(line.message, `API server not usable: the TLS certificate of ${new URL(fake.url).origin} is not trusted by the kubeconfig's certificate-authority`);
});

t.test("start-up: kubegate's credential refused (401)", async (t) => {
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const { lines } = await start(t, { kubeconfig: kubeconfigFile(fake.url, pki.caFile, 'a-token-the-api-server-does-not-accept') });
  const line = await firstVerdict(lines);
  t.equal(line.level, 'warn');
  t.match(line.message, "API server not usable: the API server refused kubegate's credential (HTTP 401 on /readyz): its token is not valid or has expired");
  t.notOk(JSON.stringify(lines).includes('a-token-the-api-server-does-not-accept'));
});

t.test('every ready/not-ready change is logged once, with the reason', async (t) => {
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const { log, lines } = captureLogger();
  const upstream = await loadUpstream({ kubeconfig: kubeconfigFile(fake.url, pki.caFile, TOKEN), probeCacheMs: 0 }, log);
  t.teardown(() => upstream.close());
  const first = await firstVerdict(lines);
  t.equal(first.message, "API server reachable with kubegate's credential");
  t.equal(first.level, 'info');

  fake.route('GET', '/readyz', (req, res) => (req.resume(), res.writeHead(503, { 'content-length': 2 }).end('no')));
  t.equal(await upstream.probe(), false);
  t.equal(await upstream.probe(), false, 'still down');
  t.match(upstream.probeReason(), 'HTTP 503 on /readyz');
  fake.route('GET', '/readyz', (req, res) => (req.resume(), res.writeHead(200, { 'content-length': 2 }).end('ok')));
  t.equal(await upstream.probe(), true);
  t.equal(await upstream.probe(), true);
  t.equal(upstream.probeReason(), undefined);
  t.same(
    verdicts(lines).map((l) => [l.level, l.message]),
    [
      ['info', "API server reachable with kubegate's credential"],
      ['warn', 'API server not usable: the API server answered HTTP 503 on /readyz: it is not ready itself'],
      ['info', 'API server usable again'],
    ],
    'one line per change, none for repeated answers',
  );
});
