/**
 * `kubegate serve` receiving SIGTERM with work in flight (bin/kubegate in a child process, the recording
 * fake API server behind it): requests in flight finish with their answers, /readyz turns 503 at once,
 * watches end with a clean end of stream after the long-running grace period, every request has one
 * complete audit record, and the process exits 0. No step waits on a sleep: the held requests are
 * released only once kubegate has logged that it is draining.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerResponse } from 'node:http';
import type { AuditEvent } from '../../src/audit/event.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { kubeconfigYaml, SA_TOKEN } from '../support/harness.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { createPki } from '../support/pki.js';
import { within } from '../support/wait.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

t.test('SIGTERM drains: in-flight requests answered, watches ended cleanly, everything audited, exit 0', async (t) => {
  const pki = createPki();
  const issuer = await startTestIssuer({ pki });
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
  t.teardown(async () => {
    await fake.close();
    await issuer.close();
    pki.cleanup();
  });
  const held: ServerResponse[] = [];
  let heldArrived!: () => void;
  const allHeld = new Promise<void>((resolve) => (heldArrived = resolve));
  fake.route('GET', '/api/v1/namespaces/default/configmaps/slow', (req, res) => {
    req.resume();
    held.push(res);
    if (held.length === 3) heldArrived();
  });
  fake.route('GET', '/api/v1/namespaces/default/configmaps', (req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    res.write('{"type":"ADDED","object":{"kind":"ConfigMap"}}\n');
  });
  const kubeconfig = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const serving = pki.server();
  const auditFile = join(pki.dir, 'audit.log');
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KUBEGATE_|TAP|_TAPJS_|NODE_OPTIONS$)/.test(k)));
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(REPO, 'bin/kubegate'), 'serve',
    '--bind-address', '127.0.0.1', '--secure-port', '0', '--metrics-bind-address', '0', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
    '--oidc-issuer-url', issuer.issuer, '--oidc-client-id', issuer.clientId, '--oidc-ca-file', issuer.caFile, '--oidc-username-claim', 'email',
    '--kubeconfig', kubeconfig, '--audit-log-path', auditFile, '--long-running-shutdown-grace-seconds', '1', '--shutdown-grace-seconds', '20'], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let log = '';
  const watchers = new Set<{ pattern: RegExp; resolve: (m: RegExpExecArray) => void }>();
  child.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
    for (const w of [...watchers]) {
      const m = w.pattern.exec(log);
      if (m) {
        watchers.delete(w);
        w.resolve(m);
      }
    }
  });
  const logged = (pattern: RegExp, what: string) => within(new Promise<RegExpExecArray>((resolve) => {
    const m = pattern.exec(log);
    if (m) resolve(m);
    else watchers.add({ pattern, resolve });
  }), 20_000, `${what} (log so far: ${log.slice(-2000)})`);
  await logged(/oidc issuer ready/, 'the issuer keys');
  const port = (await logged(/"address":"127\.0\.0\.1:(\d+)"/, 'the listen address'))[1]!;
  const token = await issuer.mintIdToken({ sub: 's', claims: { email: 'drain@example.com' } });
  const agent = new Agent({ keepAlive: true, ca: pki.ca });
  t.teardown(() => agent.destroy());
  const get = (path: string) =>
    new Promise<{ status: number; body: string; ended: 'end' | 'error'; connection: string | undefined; firstChunk: Promise<void> }>((resolve) => {
      let first!: () => void;
      const firstChunk = new Promise<void>((r) => (first = r));
      const req = request(`https://127.0.0.1:${port}${path}`, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          first();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ended: 'end', connection: res.headers.connection, firstChunk }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body, ended: 'error', connection: res.headers.connection, firstChunk }));
        (req as unknown as { firstChunk: Promise<void> }).firstChunk = firstChunk;
      });
      req.on('error', () => resolve({ status: 0, body: '', ended: 'error', connection: undefined, firstChunk }));
      req.end();
    });

  // Two watches streaming, three requests the API server holds.
  const watchReqs: Promise<Awaited<ReturnType<typeof get>>>[] = [];
  const watchStarted: Promise<void>[] = [];
  for (let i = 0; i < 2; i++) {
    let started!: () => void;
    watchStarted.push(new Promise<void>((r) => (started = r)));
    const r = new Promise<Awaited<ReturnType<typeof get>>>((resolve) => {
      const req = request(`https://127.0.0.1:${port}/api/v1/namespaces/default/configmaps?watch=1`, { agent: false, ca: pki.ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          body += c;
          started();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, ended: 'end', connection: undefined, firstChunk: Promise.resolve() }));
        res.on('aborted', () => resolve({ status: res.statusCode ?? 0, body, ended: 'error', connection: undefined, firstChunk: Promise.resolve() }));
      });
      req.on('error', () => resolve({ status: 0, body: '', ended: 'error', connection: undefined, firstChunk: Promise.resolve() }));
      req.end();
    });
    watchReqs.push(r);
  }
  await within(Promise.all(watchStarted), 10_000, 'both watches to stream');
  const slow = [get('/api/v1/namespaces/default/configmaps/slow'), get('/api/v1/namespaces/default/configmaps/slow'), get('/api/v1/namespaces/default/configmaps/slow')];
  await within(allHeld, 10_000, 'the held requests to reach the API server');

  child.kill('SIGTERM');
  await logged(/"message":"draining"/, 'kubegate to start draining');
  for (const res of held) {
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
    res.end('{}');
  }
  const answers = await within(Promise.all(slow), 15_000, 'the held requests to be answered');
  t.same(answers.map((a) => [a.status, a.body, a.ended]), [[200, '{}', 'end'], [200, '{}', 'end'], [200, '{}', 'end']], 'every request in flight at SIGTERM got its answer');
  t.ok(answers.every((a) => a.connection === 'close'), 'answered with Connection: close, so the client goes elsewhere next');
  const watches = await within(Promise.all(watchReqs), 15_000, 'the watches to end');
  t.same(watches.map((w) => [w.status, w.ended]), [[200, 'end'], [200, 'end']], 'each watch ended with a clean end of stream (kubectl re-watches)');
  t.equal(await within(exited, 20_000, 'kubegate to exit'), 0, 'exit 0');
  const records = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as AuditEvent);
  const slowRecords = records.filter((r) => r.requestURI.endsWith('/slow'));
  t.same(slowRecords.map((r) => [r.responseStatus.code, r.annotations?.['kubegate.io/outcome']]), [[200, 'completed'], [200, 'completed'], [200, 'completed']]);
  const watchRecords = records.filter((r) => r.requestURI.includes('watch=1'));
  t.same(watchRecords.map((r) => [r.responseStatus.code, r.annotations?.['kubegate.io/outcome']]), [[200, 'shutdown'], [200, 'shutdown']], 'the watches\' records say kubegate ended them for shutdown');
  t.match(log, /"message":"stopped"/);
});
