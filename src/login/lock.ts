/**
 * A lock file, so that several kubectl processes running the plugin at once sign in once between them:
 * the first takes the lock and signs in; the others wait, then find its token in the cache.
 *
 * The lock is a file created with O_EXCL holding the owner's pid, host name and a random id. A lock left
 * by a process that died is broken: on the same host when its pid no longer exists, from another host
 * (a shared home directory) when it is older than {@link FOREIGN_LOCK_STALE_MS}. Breaking re-reads the
 * file and removes it only if it still holds what was judged stale.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { LoginError } from './errors.js';

/** A lock from another host is considered abandoned after this long (longer than any sign-in may take). */
export const FOREIGN_LOCK_STALE_MS = 30 * 60_000;
/** A lock file still empty after this long belongs to a process that died while creating it. */
const EMPTY_LOCK_STALE_MS = 5_000;

interface LockContent {
  pid: number;
  host: string;
  id: string;
  createdAt: number;
}

export interface LockOptions {
  /** Give up waiting after this long (milliseconds). */
  timeoutMs: number;
  /** How often to look again while another process holds the lock (default 50 ms). */
  pollMs?: number;
  /** Called once, when the lock is held by another process and this one starts waiting. */
  onWait?(holder: { pid: number; host: string }): void;
  signal?: AbortSignal | undefined;
}

/** A held lock. `release` is idempotent and removes the file only if it is still this holder's. */
export interface HeldLock {
  release(): void;
}

/**
 * Take the lock at `file`, waiting while another live process holds it.
 * @throws LoginError CACHE_FAILED after `timeoutMs`, or when the file cannot be created for another reason
 *   than its existence (e.g. permissions); INTERRUPTED when `signal` aborts.
 */
export async function acquireLock(file: string, opts: LockOptions): Promise<HeldLock> {
  const mine: LockContent = { pid: process.pid, host: os.hostname(), id: randomUUID(), createdAt: Date.now() };
  const started = performance.now();
  let told = false;
  for (;;) {
    if (opts.signal?.aborted) throw new LoginError('INTERRUPTED', 'interrupted while waiting for another kubegate login to finish');
    if (tryCreate(file, mine)) return held(file, mine);
    const holder = readLock(file);
    if (holder === 'gone') continue;
    if (isStale(file, holder)) {
      breakLock(file, holder);
      continue;
    }
    if (!told && holder !== 'empty') {
      told = true;
      opts.onWait?.({ pid: holder.pid, host: holder.host });
    }
    if (performance.now() - started > opts.timeoutMs) {
      throw new LoginError('CACHE_FAILED', `another kubegate login has held ${file} for more than ${Math.round(opts.timeoutMs / 1000)} s; if no other login is running, remove that file`);
    }
    await delay(opts.pollMs ?? 50, opts.signal);
  }
}

function tryCreate(file: string, content: LockContent): boolean {
  let fd: number;
  try {
    fd = fs.openSync(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new LoginError('CACHE_FAILED', `cannot create the lock file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    fs.writeSync(fd, JSON.stringify(content));
  } finally {
    fs.closeSync(fd);
  }
  return true;
}

function readLock(file: string): LockContent | 'empty' | 'gone' {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw new LoginError('CACHE_FAILED', `cannot read the lock file ${file}: ${(err as Error).message}`, { cause: err });
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockContent>;
    if (typeof parsed.pid === 'number' && typeof parsed.host === 'string' && typeof parsed.id === 'string' && typeof parsed.createdAt === 'number') {
      return parsed as LockContent;
    }
  } catch {
    // written halfway or garbage: judged by its age below
  }
  return 'empty';
}

function isStale(file: string, holder: LockContent | 'empty'): boolean {
  if (holder === 'empty') {
    try {
      return Date.now() - fs.statSync(file).mtimeMs > EMPTY_LOCK_STALE_MS;
    } catch {
      return false;
    }
  }
  if (holder.host === os.hostname()) return !processExists(holder.pid);
  return Date.now() - holder.createdAt > FOREIGN_LOCK_STALE_MS;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Remove the lock only if it still holds what was judged stale (another process may have broken it first). */
function breakLock(file: string, judged: LockContent | 'empty'): void {
  const now = readLock(file);
  const same = now === 'empty' ? judged === 'empty' : now !== 'gone' && judged !== 'empty' && now.id === judged.id;
  if (!same) return;
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new LoginError('CACHE_FAILED', `cannot remove the stale lock file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function held(file: string, mine: LockContent): HeldLock {
  let released = false;
  return {
    release() {
      if (released) return;
      released = true;
      try {
        const now = readLock(file);
        if (now !== 'gone' && now !== 'empty' && now.id === mine.id) fs.unlinkSync(file);
      } catch {
        // already gone or unreadable: nothing of ours to remove
      }
    },
  };
}

/** Wait `ms`, or less when `signal` aborts (the caller checks the signal next). */
function delay(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined);
}
