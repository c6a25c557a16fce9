/**
 * `kubegate serve` receiving SIGTERM with work in flight (bin/kubegate in a child process, the recording
 * fake API server behind it): requests in flight finish with their answers, /readyz turns 503 at once,
 * watches end with a clean end of stream after the long-running grace period, every request has one
 * complete audit record, and the process exits 0. No step waits on a sleep: the held requests are
 * released only once kubegate has logged that it is draining.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import type { ServerResponse } from 'node:http';
import type { AuditEvent } from '../../src/audit/event.js';
import { serveWorld, spawnServe } from '../support/serve-child.js';
import { within } from '../support/wait.js';

t.test('SIGTERM drains: in-flight requests answered, watches ended cleanly, everything audited, exit 0', async (t) => {
  const { pki, issuer, fake, baseFlags } = await serveWorld(t);
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
  const auditFile = join(pki.dir, 'audit.log');
  const serve = spawnServe(t, [...baseFlags, '--metrics-bind-address', '0', '--audit-log-path', auditFile, '--long-running-shutdown-grace-seconds', '1', '--shutdown-grace-seconds', '20']);
  const logged = (pattern: RegExp, what: string) => serve.logged(pattern, what);
  const { child, exited } = serve;
  await logged(/oidc issuer ready/, 'the issuer keys');
  const port = /"address":"127\.0\.0\.1:(\d+)"/.exec(await logged(/"message":"kubegate serving"/, 'the listen address'))![1]!;
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
  // Default policy: a long-running request is on record when its response starts (ResponseStarted), then once more when it ends.
  const startedRecords = records.filter((r) => r.requestURI.includes('watch=1') && r.stage === 'ResponseStarted');
  t.same(startedRecords.map((r) => r.responseStatus.code), [200, 200], 'each watch was on record while it ran');
  const watchRecords = records.filter((r) => r.requestURI.includes('watch=1') && r.stage === 'ResponseComplete');
  t.same(new Set(watchRecords.map((r) => r.auditID)), new Set(startedRecords.map((r) => r.auditID)), 'both records of a watch share its audit ID');
  t.same(watchRecords.map((r) => [r.responseStatus.code, r.annotations?.['kubegate.io/outcome']]), [[200, 'shutdown'], [200, 'shutdown']], 'the watches\' records say kubegate ended them for shutdown');
  t.match(serve.log(), /"message":"stopped"/);
});
