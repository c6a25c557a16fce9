/**
 * The audit log's rotation (rotating-file-stream): whole lines in every file, each file ending with a
 * newline, no record lost or split across a rotation, rotated files next to the log (gzipped on request),
 * the backup count kept; and through kubegate under a bounded load, records = requests.
 */
import t from 'tap';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { createLogBackend } from '../../src/audit/sink.js';
import { silentLogger } from '../../src/log/logger.js';
import { startHarness } from '../support/harness.js';
import { eventually } from '../support/wait.js';
import { startAuditKubegate } from './audit-kubegate.js';

const noEvents = { dropped: () => {}, health: () => {} };

function linesOf(dir: string): { files: string[]; lines: string[] } {
  const files = readdirSync(dir).filter((f) => f.startsWith('audit')).sort();
  const lines: string[] = [];
  for (const f of files) {
    const raw = readFileSync(join(dir, f));
    const text = (f.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
    if (text.length > 0 && !text.endsWith('\n')) throw new Error(`${f} does not end with a newline`);
    lines.push(...text.split('\n').filter(Boolean));
  }
  return { files, lines };
}

for (const compress of [false, true]) {
  t.test(`rotation by size${compress ? ', gzipped' : ''}: every record whole, in exactly one file`, async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'kubegate-rotation-'));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const backend = createLogBackend({ path: join(dir, 'audit.log'), maxSizeMB: 1, maxAgeDays: 0, maxBackups: 0, compress, mode: 'blocking', batchMaxSize: 400, batchMaxWaitMs: 1000 }, noEvents, silentLogger());
    const N = 6000;
    const pad = 'p'.repeat(500);
    for (let i = 0; i < N; i++) {
      backend.write(JSON.stringify({ kind: 'Event', auditID: `id-${i}`, pad }));
      // Let a write go out now and then, so rotations happen between writes, as in service.
      if (i % 200 === 199) await new Promise((r) => setImmediate(r));
    }
    await backend.close();
    const { files, lines } = linesOf(dir);
    t.ok(files.length >= 3, `rotated into ${files.length} files (${files.join(', ')})`);
    t.ok(files.every((f) => f === 'audit.log' || /^audit-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}(-\d+)?\.log(\.gz)?$/.test(f)), 'rotated files are named like kube-apiserver\'s, next to the log');
    if (compress) t.ok(files.filter((f) => f !== 'audit.log').every((f) => f.endsWith('.gz')), 'rotated files are gzipped');
    t.equal(lines.length, N, 'no record lost');
    const ids = lines.map((l) => (JSON.parse(l) as { auditID: string }).auditID);
    t.equal(new Set(ids).size, N, 'no record twice, none split');
  });
}

t.test('maxbackup: only the newest rotated files are kept', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-rotation-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const backend = createLogBackend({ path: join(dir, 'audit.log'), maxSizeMB: 1, maxAgeDays: 0, maxBackups: 1, compress: false, mode: 'batch', batchMaxSize: 100, batchMaxWaitMs: 1000 }, noEvents, silentLogger());
  for (let i = 0; i < 8000; i++) {
    backend.write(JSON.stringify({ auditID: `id-${i}`, pad: 'q'.repeat(500) }));
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  await backend.close();
  const rotated = readdirSync(dir).filter((f) => f.startsWith('audit-'));
  t.equal(rotated.length, 1, `one backup kept (${rotated.join(', ')})`);
  const { lines } = linesOf(dir);
  t.ok(lines.every((l) => l.startsWith('{') && l.endsWith('}')), 'whole lines only');
});

t.test('through kubegate under a bounded load: records = requests across rotations', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-rotation-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const k = await startAuditKubegate(h, { logPath: join(dir, 'audit.log'), logMaxSize: 1 });
  t.teardown(() => k.close());
  const token = await h.issuer.mintIdToken({ sub: 'r', claims: { email: 'rotation@example.com' } });
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: h.pki.ca });
  t.teardown(() => agent.destroy());
  const N = 1600;
  const filler = 'f'.repeat(1200); // ~1.9 KB per record: about three files
  const get = (i: number) =>
    new Promise<number>((resolve, reject) => {
      request(`${k.kubegate.url}/version?n=${i}&pad=${filler}`, { agent, servername: 'localhost', headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject).end();
    });
  const statuses: number[] = [];
  for (let i = 0; i < N; i += 32) statuses.push(...(await Promise.all(Array.from({ length: Math.min(32, N - i) }, (_, j) => get(i + j)))));
  t.equal(statuses.filter((s) => s === 200).length, N);
  await eventually('nothing in flight', () => (k.kubegate.inflight() === 0 ? true : undefined), 10_000);
  await k.close(); // flushes the log
  const { files, lines } = linesOf(dir);
  t.ok(files.length >= 2, `rotated (${files.length} files)`);
  const uris = lines.map((l) => (JSON.parse(l) as { requestURI: string }).requestURI).filter((u) => u.startsWith('/version?n='));
  t.equal(uris.length, N, 'one record per request');
  t.equal(new Set(uris).size, N, 'each request once');
});

t.test('maxage: rotated files older than the limit are removed at the next rotation, nothing else', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-rotation-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const old = join(dir, 'audit-2000-01-01T00-00-00.000.log');
  const unrelated = join(dir, 'other-2000-01-01.log');
  for (const f of [old, unrelated]) {
    writeFileSync(f, '{}\n');
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    utimesSync(f, tenDaysAgo, tenDaysAgo);
  }
  const backend = createLogBackend({ path: join(dir, 'audit.log'), maxSizeMB: 1, maxAgeDays: 1, maxBackups: 0, compress: false, mode: 'blocking', batchMaxSize: 400, batchMaxWaitMs: 1000 }, noEvents, silentLogger());
  for (let i = 0; i < 3000; i++) {
    backend.write(JSON.stringify({ auditID: `id-${i}`, pad: 'q'.repeat(500) }));
    if (i % 200 === 199) await new Promise((r) => setImmediate(r));
  }
  await backend.close();
  t.notOk(existsSync(old), 'the 10-day-old rotated file is gone');
  t.ok(existsSync(unrelated), 'a file that is not this log\'s is kept');
  t.ok(readdirSync(dir).some((f) => f.startsWith('audit-2') && f !== 'audit-2000-01-01T00-00-00.000.log'), 'the new rotated file is kept');
});
