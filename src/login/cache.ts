/**
 * The token cache of `kubegate login`: one JSON file per issuer + client id + scopes, in
 * `$XDG_CACHE_HOME/kubegate/` when XDG_CACHE_HOME is set, else `~/.kube/cache/kubegate/` (or `--cache-dir`).
 *
 * Layout: `<dir>/<sha256 of [issuer, clientId, sorted scopes]>.json` holds {@link CachedLogin};
 * `<same>.lock` exists while a process signs in for that entry (lock.ts). The directory is 0700 and owned
 * by the user; files are 0600, written to a temporary file and renamed into place, so a reader sees the
 * old entry or the new one, never half of one. The cache is the only file a token is ever written to.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LoginError } from './errors.js';
import { acquireLock, type HeldLock, type LockOptions } from './lock.js';
import { cacheIdentity } from './options.js';

export const CACHE_FORMAT_VERSION = 1;

/** One cached login. */
export interface CachedLogin {
  version: typeof CACHE_FORMAT_VERSION;
  issuer: string;
  clientId: string;
  /** Sorted, `openid` included. */
  scopes: string[];
  idToken: string;
  refreshToken?: string | undefined;
  /** The ID token's `sub`, to check that a refreshed token is for the same person. */
  subject: string;
  /** The ID token's `exp` and `iat` (epoch seconds). */
  exp: number;
  iat: number;
}

export type CacheIdentity = ReturnType<typeof cacheIdentity>;

/** `$XDG_CACHE_HOME/kubegate` when XDG_CACHE_HOME is an absolute path, else `~/.kube/cache/kubegate`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  const xdg = env.XDG_CACHE_HOME;
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'kubegate');
  return path.join(env.HOME || home, '.kube', 'cache', 'kubegate');
}

/** The file name stem of an entry: a hash, so that URLs and scopes need no escaping. */
export function entryName(id: CacheIdentity): string {
  return createHash('sha256').update(JSON.stringify([id.issuer, id.clientId, id.scopes])).digest('hex');
}

export interface TokenCache {
  readonly dir: string;
  /** The entry for `id`, or undefined when there is none, it is unreadable or does not match `id`. */
  read(id: CacheIdentity): CachedLogin | undefined;
  /** @throws LoginError CACHE_FAILED when the directory is unsafe or the file cannot be written. */
  write(entry: CachedLogin): void;
  /** Remove the entries `match` accepts (all without it); returns how many were removed. */
  remove(match?: (entry: CachedLogin) => boolean): number;
  /** Take the entry's lock (see lock.ts). */
  lock(id: CacheIdentity, opts: LockOptions): Promise<HeldLock>;
}

/** The cache in `dir` (nothing is created until the first write or lock). */
export function openTokenCache(dir: string): TokenCache {
  const file = (id: CacheIdentity) => path.join(dir, `${entryName(id)}.json`);
  return {
    dir,
    read(id) {
      if (!dirIsPrivate(dir)) return undefined;
      const entry = readEntry(file(id));
      if (!entry || entry.issuer !== id.issuer || entry.clientId !== id.clientId || entry.scopes.join(' ') !== id.scopes.join(' ')) return undefined;
      return entry;
    },
    write(entry) {
      ensurePrivateDir(dir);
      writeAtomically(file(entry), JSON.stringify(entry) + '\n');
    },
    remove(match) {
      let names: string[];
      try {
        names = fs.readdirSync(dir);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
        throw new LoginError('CACHE_FAILED', `cannot read the token cache ${dir}: ${(err as Error).message}`, { cause: err });
      }
      let removed = 0;
      for (const name of names) {
        if (!/^[0-9a-f]{64}\.json$/.test(name)) continue;
        const full = path.join(dir, name);
        if (match) {
          const entry = readEntry(full);
          if (!entry || !match(entry)) continue;
        }
        try {
          fs.unlinkSync(full);
          removed += 1;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new LoginError('CACHE_FAILED', `cannot remove ${full}: ${(err as Error).message}`, { cause: err });
        }
      }
      return removed;
    },
    async lock(id, opts) {
      ensurePrivateDir(dir);
      return acquireLock(path.join(dir, `${entryName(id)}.lock`), opts);
    },
  };
}

function readEntry(file: string): CachedLogin | undefined {
  let text: string;
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NOFOLLOW ?? 0));
    try {
      text = fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return undefined;
  }
  try {
    const e = JSON.parse(text) as Partial<CachedLogin>;
    const ok = e.version === CACHE_FORMAT_VERSION
      && typeof e.issuer === 'string' && typeof e.clientId === 'string'
      && Array.isArray(e.scopes) && e.scopes.every((s) => typeof s === 'string')
      && typeof e.idToken === 'string' && e.idToken !== ''
      && (e.refreshToken === undefined || typeof e.refreshToken === 'string')
      && typeof e.subject === 'string' && typeof e.exp === 'number' && typeof e.iat === 'number';
    return ok ? (e as CachedLogin) : undefined;
  } catch {
    return undefined;
  }
}

const uid = () => (typeof process.getuid === 'function' ? process.getuid() : undefined);

/** The directory exists, is a real directory owned by this user, and only this user may enter it. */
function dirIsPrivate(dir: string): boolean {
  try {
    const st = fs.lstatSync(dir);
    return st.isDirectory() && (uid() === undefined || st.uid === uid()) && (st.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

/**
 * Create the directory (and missing parents) 0700, or tighten an existing one of this user to 0700.
 * @throws LoginError CACHE_FAILED when it is a symlink, not a directory, or belongs to someone else.
 */
function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  } catch (err) {
    throw new LoginError('CACHE_FAILED', `cannot create the token cache directory ${dir}: ${(err as Error).message}`, { cause: err });
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new LoginError('CACHE_FAILED', `the token cache ${dir} is not a directory (a symlink is not accepted)`);
  if (uid() !== undefined && st.uid !== uid()) throw new LoginError('CACHE_FAILED', `the token cache ${dir} belongs to another user`);
  if ((st.mode & 0o777) !== 0o700) fs.chmodSync(dir, 0o700);
}

/** Write `text` to `file` through a 0600 temporary file in the same directory, then rename it into place. */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    const fd = fs.openSync(tmp, 'wx', 0o600);
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new LoginError('CACHE_FAILED', `cannot write the token cache file ${file}: ${(err as Error).message}`, { cause: err });
  }
}
