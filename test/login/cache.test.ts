/**
 * The token cache and its lock (src/login/cache.ts, lock.ts): permissions (0700 directory, 0600 files),
 * atomic replacement under concurrent writers, entries that do not match their key, removal, and the lock:
 * waiting, timing out, breaking locks left by dead processes, interruption.
 */
import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { defaultCacheDir, entryName, openTokenCache, type CachedLogin } from '../../src/login/cache.js';
import { LoginError } from '../../src/login/errors.js';
import { acquireLock } from '../../src/login/lock.js';
import { cacheIdentity } from '../../src/login/options.js';
import { within } from '../support/wait.js';

const ID = cacheIdentity({ issuer: 'https://idp.example', clientId: 'kubegate', scopes: ['openid'] });
const entry = (idToken = 'header.payload.sig'): CachedLogin => ({ version: 1, ...ID, idToken, refreshToken: 'refresh', subject: 'alice', exp: 2_000_000_000, iat: 1_999_999_000 });

function tempDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-cache-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

t.test('the default directory', async (t) => {
  t.equal(defaultCacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/home/a' }), '/x/cache/kubegate');
  t.equal(defaultCacheDir({ XDG_CACHE_HOME: 'relative', HOME: '/home/a' }), '/home/a/.kube/cache/kubegate', 'a relative XDG_CACHE_HOME is ignored');
  t.equal(defaultCacheDir({ HOME: '/home/a' }), '/home/a/.kube/cache/kubegate');
  t.equal(cacheIdentity({ issuer: 'i', clientId: 'c', scopes: ['groups', 'openid', 'email'] }).scopes.join(' '), 'email groups openid');
  t.equal(entryName(cacheIdentity({ issuer: 'i', clientId: 'c', scopes: ['b', 'a'] })), entryName(cacheIdentity({ issuer: 'i', clientId: 'c', scopes: ['a', 'b', 'a'] })), 'scope order and repeats do not matter');
  t.not(entryName(cacheIdentity({ issuer: 'i', clientId: 'c', scopes: [] })), entryName(cacheIdentity({ issuer: 'i', clientId: 'd', scopes: [] })));
});

t.test('permissions: a 0700 directory (created or tightened), 0600 files, nothing else left', async (t) => {
  const base = tempDir(t);
  const dir = join(base, 'deep', 'kubegate');
  const cache = openTokenCache(dir);
  t.equal(cache.read(ID), undefined, 'nothing yet, and reading creates nothing');
  t.throws(() => statSync(dir));
  cache.write(entry());
  t.equal(statSync(dir).mode & 0o777, 0o700);
  t.equal(statSync(join(base, 'deep')).mode & 0o777, 0o700, 'created parents too');
  const files = readdirSync(dir);
  t.same(files, [`${entryName(ID)}.json`]);
  t.equal(statSync(join(dir, files[0]!)).mode & 0o777, 0o600);
  t.same(cache.read(ID), entry());

  // a directory others may read: not trusted for reading, tightened by the next write
  chmodSync(dir, 0o755);
  t.equal(cache.read(ID), undefined, 'a group/world-accessible directory is not read');
  cache.write(entry('a.b.c'));
  t.equal(statSync(dir).mode & 0o777, 0o700, 'tightened');
  t.equal(cache.read(ID)?.idToken, 'a.b.c');

  // a symlinked cache directory is refused
  const elsewhere = join(base, 'elsewhere');
  mkdirSync(elsewhere, { mode: 0o700 });
  const link = join(base, 'link');
  symlinkSync(elsewhere, link);
  const err = t.throws(() => openTokenCache(link).write(entry())) as unknown;
  t.equal((err as LoginError).code, 'CACHE_FAILED');
  t.same(readdirSync(elsewhere), []);
});

t.test('entries that do not fit are ignored', async (t) => {
  const dir = join(tempDir(t), 'kubegate');
  const cache = openTokenCache(dir);
  cache.write(entry());
  const file = join(dir, `${entryName(ID)}.json`);
  // an entry of another identity under this name (a copied or tampered file)
  const other = cacheIdentity({ issuer: 'https://evil.example', clientId: 'kubegate', scopes: ['openid'] });
  openTokenCache(dir).write({ ...entry(), ...other });
  renameSync(join(dir, `${entryName(other)}.json`), file);
  t.equal(cache.read(ID), undefined, 'issuer does not match the key');
  for (const text of ['', '{', '[]', JSON.stringify({ ...entry(), version: 2 }), JSON.stringify({ ...entry(), exp: 'soon' }), JSON.stringify({ ...entry(), idToken: '' })]) {
    writeFileSync(file, text);
    t.equal(cache.read(ID), undefined, JSON.stringify(text.slice(0, 30)));
  }
  rmSync(file);
  symlinkSync(join(dir, 'nowhere'), file);
  t.equal(cache.read(ID), undefined, 'a symlink is not followed');
});

t.test('remove: everything, or what a filter accepts', async (t) => {
  const dir = join(tempDir(t), 'kubegate');
  const cache = openTokenCache(dir);
  const a = cacheIdentity({ issuer: 'https://a.example', clientId: 'k', scopes: [] });
  const b = cacheIdentity({ issuer: 'https://b.example', clientId: 'k', scopes: ['groups'] });
  cache.write({ ...entry(), ...a });
  cache.write({ ...entry(), ...b });
  writeFileSync(join(dir, 'notes.txt'), 'not ours');
  t.equal(cache.remove((e) => e.issuer === 'https://a.example'), 1);
  t.equal(cache.read(a), undefined);
  t.ok(cache.read(b));
  t.equal(cache.remove(), 1);
  t.same(readdirSync(dir), ['notes.txt'], 'only cache entries are removed');
  t.equal(openTokenCache(join(dir, 'missing')).remove(), 0);
});

t.test('atomic: readers never see half an entry while two processes rewrite it', async (t) => {
  const dir = join(tempDir(t), 'kubegate');
  const cache = openTokenCache(dir);
  cache.write(entry('seed-0-x'));
  const child = fileURLToPath(new URL('./support/cache-writer.ts', import.meta.url));
  const run = (tag: string) => new Promise<void>((resolve, reject) => {
    execFile(process.execPath, ['--import=tsx', child, dir, '300', tag], { timeout: 60_000 }, (err, _out, stderr) => (err ? reject(new Error(stderr || String(err))) : resolve()));
  });
  let reads = 0;
  let broken = 0;
  const writers = new Set<string>();
  let done = false;
  const finished = Promise.all([run('A'), run('B')]).finally(() => { done = true; });
  while (!done) {
    const e = cache.read(ID);
    if (e) writers.add(e.idToken.split('-')[0]!);
    else broken += 1;
    reads += 1;
    await new Promise((resolve) => setImmediate(resolve));
  }
  await within(finished, 60_000, 'the writers');
  t.comment(`${reads} reads while 600 writes happened; entries seen from ${[...writers].sort().join(', ')}`);
  t.equal(broken, 0, 'every read found a whole entry');
  t.same(readdirSync(dir).filter((f) => f.endsWith('.tmp')), [], 'no temporary file left');
});

t.test('lock: one holder, the other waits, then gets it', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'x.lock');
  const first = await acquireLock(file, { timeoutMs: 1000 });
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.match(JSON.parse(readFileSync(file, 'utf8')), { pid: process.pid, host: os.hostname() });
  const waits: number[] = [];
  const second = acquireLock(file, { timeoutMs: 10_000, pollMs: 10, onWait: (h) => waits.push(h.pid) });
  t.same(waits, [process.pid], 'the waiter was told who holds it (on its first look, before the promise returns)');
  first.release();
  const held = await within(second, 5000, 'the second lock');
  t.ok(statSync(file));
  first.release(); // idempotent, and does not remove the other holder's lock
  t.ok(statSync(file), 'a stale release leaves the new holder alone');
  held.release();
  t.throws(() => statSync(file));

  // timing out
  const blocker = await acquireLock(file, { timeoutMs: 1000 });
  const err = await acquireLock(file, { timeoutMs: 150, pollMs: 10 }).catch((e: unknown) => e);
  t.equal((err as LoginError).code, 'CACHE_FAILED');
  t.match((err as Error).message, /another kubegate login has held/);
  // interrupted
  const abort = new AbortController();
  const waiting = acquireLock(file, { timeoutMs: 10_000, pollMs: 10, signal: abort.signal }).catch((e: unknown) => e);
  abort.abort();
  t.equal(((await waiting) as LoginError).code, 'INTERRUPTED');
  blocker.release();
});

t.test('lock: left by a dead process, half-written, or from another host long ago: broken', async (t) => {
  const dir = tempDir(t);
  const file = join(dir, 'x.lock');
  const dead = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  const deadPid = Number(dead.stdout.trim());
  writeFileSync(file, JSON.stringify({ pid: deadPid, host: os.hostname(), id: 'old', createdAt: Date.now() }));
  (await within(acquireLock(file, { timeoutMs: 2000, pollMs: 10 }), 3000, 'breaking a dead pid lock')).release();

  writeFileSync(file, '');
  const past = new Date(Date.now() - 60_000);
  utimesSync(file, past, past);
  (await within(acquireLock(file, { timeoutMs: 2000, pollMs: 10 }), 3000, 'breaking an empty old lock')).release();

  writeFileSync(file, JSON.stringify({ pid: 1, host: 'other-host.example', id: 'old', createdAt: Date.now() - 3_600_000 }));
  (await within(acquireLock(file, { timeoutMs: 2000, pollMs: 10 }), 3000, 'breaking an old foreign lock')).release();

  // a recent lock of another host, or of a live process here, is respected
  writeFileSync(file, JSON.stringify({ pid: 1, host: 'other-host.example', id: 'new', createdAt: Date.now() }));
  t.equal(((await acquireLock(file, { timeoutMs: 100, pollMs: 10 }).catch((e: unknown) => e)) as LoginError).code, 'CACHE_FAILED');
  writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname(), id: 'live', createdAt: Date.now() - 3_600_000 }));
  t.equal(((await acquireLock(file, { timeoutMs: 100, pollMs: 10 }).catch((e: unknown) => e)) as LoginError).code, 'CACHE_FAILED', 'a live process keeps its lock however old');
});
