/**
 * The file ElevationStore (src/elevation/file-store.ts): the store contract with two stores on one file
 * (two kubegate processes), then what only this store has: mode 0600, a missing file, atomic writes
 * (a reader never sees half a file), a second OS process racing on the same file (the lock), a corrupt
 * file, and the lock file left by a crashed process.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFileElevationStore, type FileElevationStoreOptions } from '../../src/elevation/file-store.js';
import type { Elevation, ElevationStore } from '../../src/elevation/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { eventually, within } from '../support/wait.js';
import { elevationStoreContract, rejectsWithCode, sample, type Test } from './store-contract.js';

/** Two processes polling every 250 ms see each other within a second (the requirement). */
const PROPAGATION_CAP_MS = 1000;

function tempFile(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-elevations-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return join(dir, 'elevations.json');
}

function opener(t: Test, path: string) {
  return (opts: Partial<FileElevationStoreOptions> = {}): ElevationStore => {
    const store = createFileElevationStore({ path, log: silentLogger(), ...opts });
    t.teardown(() => store.close());
    return store;
  };
}

/** Edit the file as an administrator would, atomically (temp + rename). */
function editFile(path: string, edit: (content: { revision: number; items: Elevation[] }) => void): void {
  const content = JSON.parse(readFileSync(path, 'utf8')) as { revision: number; items: Elevation[] };
  edit(content);
  writeFileSync(`${path}.edit`, JSON.stringify(content));
  renameSync(`${path}.edit`, path);
}

const findIn = (store: ElevationStore, id: string) => store.snapshot().find((e) => e.id === id);

t.test('the store contract, two stores on one file', async (t) => {
  elevationStoreContract(
    t,
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'kubegate-elevations-'));
      const path = join(dir, 'elevations.json');
      const a = createFileElevationStore({ path, log: silentLogger() });
      const b = createFileElevationStore({ path, log: silentLogger() });
      await Promise.all([a.ready(), b.ready()]);
      return {
        a,
        b,
        removeExternally: async (id) => editFile(path, (c) => void (c.items = c.items.filter((e) => e.id !== id))),
        problems: () => readdirSync(dir).filter((name) => name !== 'elevations.json').map((name) => `left behind: ${name}`),
        close: async () => {
          a.close();
          b.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
    { propagationCapMs: PROPAGATION_CAP_MS },
  );
});

t.test('a missing file is an empty store; the file is created with mode 0600', async (t) => {
  const path = tempFile(t);
  const store = opener(t, path)();
  await store.ready();
  t.same(store.snapshot(), []);
  t.equal(await store.get('elev-none'), undefined);
  await store.create(sample());
  t.equal(statSync(path).mode & 0o777, 0o600, 'owner read/write only');
  const content = JSON.parse(readFileSync(path, 'utf8')) as { kind: string; revision: number; items: Elevation[] };
  t.equal(content.kind, 'ElevationFile');
  t.equal(content.items[0]!.resourceVersion, String(content.revision), 'the written object carries the file\'s revision');

  // The file removed: the store is empty again (the others see deletions).
  rmSync(path);
  await eventually('the view to empty', () => (store.snapshot().length === 0 ? true : undefined), PROPAGATION_CAP_MS);
});

t.test('writes are atomic: a concurrent reader only ever sees whole files, revisions never go back', async (t) => {
  const path = tempFile(t);
  const open = opener(t, path);
  const [a, b] = [open(), open()];
  await Promise.all([a.ready(), b.ready()]);
  let reads = 0;
  let lastRevision = 0;
  const problems: string[] = [];
  let writing = true;
  const reader = (async () => {
    while (writing) {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        await new Promise((r) => setImmediate(r));
        continue; // not created yet
      }
      reads++;
      try {
        const revision = (JSON.parse(text) as { revision: number }).revision;
        if (revision < lastRevision) problems.push(`revision went back: ${lastRevision} → ${revision}`);
        lastRevision = revision;
      } catch (err) {
        problems.push(`a partial file (${text.length} bytes): ${(err as Error).message}`);
      }
      await new Promise((r) => setImmediate(r));
    }
  })();
  const writes: Promise<unknown>[] = [];
  for (let i = 0; i < 40; i++) writes.push((i % 2 ? a : b).create(sample({ reason: 'x'.repeat(2000 + i) })));
  await Promise.all(writes);
  writing = false;
  await reader;
  t.same(problems, [], `${reads} reads while 40 writes ran`);
  t.ok(reads > 0, 'the reader did read');
  t.equal(lastRevision, 40, 'every write counted once');
  t.same(readdirSync(join(path, '..')).sort(), ['elevations.json'], 'no temporary or lock file left');
});

t.test('another OS process racing read-modify-writes on the same file: no update is lost', async (t) => {
  const path = tempFile(t);
  const store = opener(t, path)();
  await store.ready();
  const base = await store.create(sample({ durationSeconds: 1 }));
  const N = 30;
  const child = new Promise<{ conflicts: number }>((resolve, reject) => {
    execFile(process.execPath, ['--import=tsx', fileURLToPath(new URL('./file-store-child.ts', import.meta.url)), path, base.id, String(N)], (err, stdout, stderr) => {
      if (err) return reject(new Error(`child failed: ${stderr || err.message}`));
      resolve(JSON.parse(stdout) as { conflicts: number });
    });
  });
  let conflicts = 0;
  // Give the child time to start (loading tsx takes a while) without a fixed sleep: wait until it wrote once.
  await eventually('the other process to write', async () => ((await store.get(base.id))!.durationSeconds > 1 ? true : undefined), 30_000, 5);
  for (let done = 0; done < N; ) {
    const current = (await store.get(base.id))!;
    const result = await store.update({ ...current, durationSeconds: current.durationSeconds + 1 }).then(
      () => 'ok',
      (err: { code?: string }) => err.code,
    );
    if (result === 'ok') done++;
    else if (result === 'ELEVATION_CONFLICT') conflicts++;
    else t.fail(`unexpected ${result}`);
  }
  const other = await within(child, 60_000, 'the other process');
  t.comment(`conflicts: ${conflicts} here, ${other.conflicts} in the other process`);
  t.equal((await store.get(base.id))!.durationSeconds, 1 + 2 * N, 'every increment of both processes is there');
  await eventually('the view to show the last one', () => (findIn(store, base.id)?.durationSeconds === 1 + 2 * N ? true : undefined), PROPAGATION_CAP_MS);
});

t.test('a corrupt file: not ready, writes refused, the file kept; fixed, it is read again', async (t) => {
  const path = tempFile(t);
  writeFileSync(path, '{"items": [ {"id": "elev-half', { mode: 0o600 });
  const store = opener(t, path)();
  t.equal(await rejectsWithCode(store.ready()), 'ELEVATION_STORE_UNAVAILABLE', 'ready rejects');
  t.equal(await rejectsWithCode(store.create(sample())), 'ELEVATION_STORE_UNAVAILABLE', 'create refused');
  t.equal(await rejectsWithCode(store.get('elev-half')), 'ELEVATION_STORE_UNAVAILABLE', 'get refused');
  t.equal(readFileSync(path, 'utf8'), '{"items": [ {"id": "elev-half', 'the file was not overwritten');
  const good = { ...sample({ id: 'elev-good' }), resourceVersion: '3' };
  const unreadable = { ...sample({ id: 'elev-bad' }), groups: 'system:masters' };
  writeFileSync(path, JSON.stringify({ revision: 3, items: [good, unreadable] }));
  await eventually('the fixed file to be read', () => findIn(store, 'elev-good'), PROPAGATION_CAP_MS);
  t.notOk(findIn(store, 'elev-bad'), 'an entry kubegate cannot read grants nothing');
  const next = await store.create(sample());
  t.equal(next.resourceVersion, '4', 'versions continue after the file\'s revision');
});

t.test('the lock: held by a live writer → UNAVAILABLE after lockTimeoutMs; left by a crashed one → broken', async (t) => {
  const path = tempFile(t);
  const store = opener(t, path)({ lockTimeoutMs: 200 });
  await store.ready();
  writeFileSync(`${path}.lock`, '99999\n');
  const start = Date.now();
  t.equal(await rejectsWithCode(store.create(sample())), 'ELEVATION_STORE_UNAVAILABLE', 'a fresh lock is respected');
  t.ok(Date.now() - start >= 200, `gave up after ${Date.now() - start} ms`);
  const old = new Date(Date.now() - 60_000);
  utimesSync(`${path}.lock`, old, old);
  const created = await store.create(sample());
  t.ok(created.resourceVersion, 'a lock a minute old is taken as left by a crashed process');
});

t.test('options are checked', async (t) => {
  t.throws(() => createFileElevationStore({ path: '/tmp/x.json', log: silentLogger(), pollMs: 0 }), TypeError);
  const store = createFileElevationStore({ path: '/nonexistent-dir/elevations.json', log: silentLogger() });
  t.teardown(() => store.close());
  await store.ready(); // a missing file in a missing directory is still an empty store
  t.equal(await rejectsWithCode(store.create(sample())), 'ELEVATION_STORE_UNAVAILABLE', 'but cannot be written');
});
