/**
 * ElevationStore in one JSON file, for the demo and unit tests (and a single-host kubegate). Several
 * kubegate processes may share the file: each sees the others' changes within `pollMs` (default 250 ms).
 *
 * File format (mode 0600; a missing file is an empty store):
 *   { "apiVersion": "kubegate.io/v1alpha1", "kind": "ElevationFile", "revision": 7, "items": [Elevation, ...] }
 * `revision` counts every write; the object a write changes gets it as its `resourceVersion`, so versions
 * increase per object (and compare, as the Kubernetes store's do).
 *
 * Writes: under an in-process queue and a lock file (`<path>.lock`, created exclusively, so two processes
 * cannot interleave a read-modify-write; a lock older than 10 s is taken as left by a crashed process),
 * the file is read fresh, the resourceVersion checked (ELEVATION_CONFLICT on a stale one), and the new
 * content written to a temporary file in the same directory, fsynced and renamed over the file: a reader
 * sees the old or the new file, never half of one. The writer applies the result to its view at once.
 * Reads by others: every `pollMs` the file's identity (inode, size, mtime, ctime) is compared with the
 * last one seen; when it changed the file is read and the view diffed by id and resourceVersion, emitting
 * ElevationEvents. I/O failures throw ELEVATION_STORE_UNAVAILABLE; polling failures keep the last view.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KubegateError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { createLocalView, plainCopy } from './local-view.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, type Elevation, type ElevationPhase, type ElevationStore } from './types.js';

export interface FileElevationStoreOptions {
  /** The JSON file (created on the first write, mode 0600). Its directory must exist. */
  path: string;
  log: Logger;
  /** How often to look for other processes' changes, in ms (default 250). */
  pollMs?: number;
  /** How long a write waits for another process's lock before ELEVATION_STORE_UNAVAILABLE (default 5000 ms). */
  lockTimeoutMs?: number;
}

interface FileContent {
  apiVersion: string;
  kind: 'ElevationFile';
  revision: number;
  /** As found in the file (entries kubegate cannot read are kept on rewrite, and ignored). */
  items: unknown[];
}

const STALE_LOCK_MS = 10_000;
const PHASES: readonly ElevationPhase[] = ['Pending', 'Active', 'Revoked', 'Expired'];
const OPTIONAL_STRINGS = ['pendingExpiresAt', 'approvedBy', 'approvedAt', 'activeAt', 'expiresAt', 'revokedBy', 'revokedAt', 'resourceVersion'] as const;

/**
 * Open the store. Reading starts at once; `ready()` resolves after the first read of the file (and
 * rejects with ELEVATION_STORE_UNAVAILABLE if that read fails, e.g. the file is not JSON).
 *
 * @example
 * ```ts
 * const store = createFileElevationStore({ path: '/var/lib/kubegate/elevations.json', log });
 * await store.ready();
 * ```
 */
export function createFileElevationStore(opts: FileElevationStoreOptions): ElevationStore {
  const { path, log } = opts;
  const pollMs = opts.pollMs ?? 250;
  const lockTimeoutMs = opts.lockTimeoutMs ?? 5_000;
  if (!(pollMs > 0)) throw new TypeError(`createFileElevationStore: pollMs must be positive, got ${pollMs}`);
  const lockPath = `${path}.lock`;
  const view = createLocalView(log, 'file');
  let closed = false;
  /** Identity of the file content the view reflects: 'missing', a stat signature, or undefined (not read yet). */
  let seen: string | undefined;
  let lastPollProblem: string | undefined;

  // One operation at a time in this process (polls and writes), so a poll never applies older content
  // over a write's newer one.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn, fn);
    queue = run.catch(() => {});
    return run;
  };

  /** Read the file with its identity; the identity is taken from the same open file as the content. */
  async function load(): Promise<{ signature: string; content: FileContent | undefined }> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { signature: 'missing', content: undefined };
      throw err;
    }
    try {
      const st = await fh.stat({ bigint: true });
      const signature = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
      if (signature === seen) return { signature, content: undefined };
      return { signature, content: parseFile(await fh.readFile('utf8')) };
    } finally {
      await fh.close();
    }
  }

  function applyContent(content: FileContent | undefined): void {
    view.reset(content ? readable(content, log) : [], { authoritative: true });
  }

  async function poll(): Promise<void> {
    if (closed) return;
    try {
      const { signature, content } = await load();
      if (signature === seen) return;
      applyContent(content);
      seen = signature;
      if (lastPollProblem) log.info('elevation store: the file is readable again', { path });
      lastPollProblem = undefined;
    } catch (err) {
      const problem = describe(err);
      if (problem !== lastPollProblem) log.warn('elevation store: cannot read the file; keeping the last view', { path, problem });
      lastPollProblem = problem;
      throw err;
    }
  }

  const readyPromise = serial(poll).catch((err: unknown) => {
    throw new KubegateError('ELEVATION_STORE_UNAVAILABLE', `elevation store: cannot read ${basename(path)}`, { cause: err, details: { problem: describe(err) } });
  });
  readyPromise.catch(() => {}); // reported to callers of ready() only
  const timer = setInterval(() => void serial(poll).catch(() => {}), pollMs);
  timer.unref();

  /** Run a read-modify-write under the lock; `change` returns the stored elevation or throws. */
  function write(op: string, id: string, change: (content: FileContent, revision: number) => Elevation): Promise<Elevation> {
    return serial(async () => {
      if (closed) throw new KubegateError('ELEVATION_STORE_UNAVAILABLE', `elevation store: ${op} after close`);
      const release = await lock(lockPath, lockTimeoutMs).catch((err: unknown) => {
        throw unavailable(op, id, err);
      });
      try {
        let current: FileContent;
        try {
          const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
          current = text === undefined ? emptyContent() : parseFile(text);
        } catch (err) {
          throw unavailable(op, id, err);
        }
        const revision = current.revision + 1;
        const stored = change(current, revision);
        current.revision = revision;
        try {
          await writeAtomically(path, `${JSON.stringify(current, null, 2)}\n`);
          const st = await stat(path, { bigint: true });
          seen = `${st.ino}:${st.size}:${st.mtimeNs}:${st.ctimeNs}`;
        } catch (err) {
          throw unavailable(op, id, err);
        }
        applyContent(current);
        return plainCopy(stored);
      } finally {
        await release();
      }
    });
  }

  return {
    ready: () => readyPromise,

    create(elevation) {
      if (!elevation.id) return Promise.reject(new TypeError('create: elevation.id is required'));
      return write('create', elevation.id, (content, revision) => {
        if (content.items.some((item) => idOf(item) === elevation.id)) throw new KubegateError('ELEVATION_CONFLICT', `elevation ${elevation.id} already exists`, { details: { operation: 'create', elevation: elevation.id } });
        const stored: Elevation = withoutUndefined({ ...elevation, resourceVersion: String(revision) });
        content.items.push(stored);
        return stored;
      });
    },

    update(elevation) {
      if (!elevation.resourceVersion) return Promise.reject(new TypeError('update: elevation.resourceVersion is required (the version read, for optimistic concurrency)'));
      return write('update', elevation.id, (content, revision) => {
        const index = content.items.findIndex((item) => idOf(item) === elevation.id);
        const details = { operation: 'update', elevation: elevation.id };
        if (index < 0) throw new KubegateError('ELEVATION_NOT_FOUND', `elevation ${elevation.id} does not exist`, { details });
        const held = (content.items[index] as { resourceVersion?: unknown }).resourceVersion;
        if (held !== elevation.resourceVersion) throw new KubegateError('ELEVATION_CONFLICT', `elevation ${elevation.id} was changed concurrently (stale resourceVersion)`, { details });
        const stored: Elevation = withoutUndefined({ ...elevation, resourceVersion: String(revision) });
        content.items[index] = stored;
        return stored;
      });
    },

    async get(id) {
      if (closed) throw new KubegateError('ELEVATION_STORE_UNAVAILABLE', 'elevation store: get after close');
      let content: FileContent;
      try {
        const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
        content = text === undefined ? emptyContent() : parseFile(text);
      } catch (err) {
        throw unavailable('get', id, err);
      }
      const found = readable(content, log).find((e) => e.id === id);
      return found && plainCopy(found);
    },

    snapshot: () => view.snapshot(),
    onChange: (listener) => view.onChange(listener),

    close() {
      closed = true;
      clearInterval(timer);
      view.clear();
    },
  };
}

function emptyContent(): FileContent {
  return { apiVersion: `${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}`, kind: 'ElevationFile', revision: 0, items: [] };
}

/** @throws SyntaxError / TypeError when the text is not an elevation file. */
function parseFile(text: string): FileContent {
  if (text.trim() === '') return emptyContent();
  const raw = JSON.parse(text) as Partial<FileContent> | null;
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.items)) throw new TypeError('not an elevation file: no "items" list');
  const revision = typeof raw.revision === 'number' && Number.isSafeInteger(raw.revision) && raw.revision >= 0 ? raw.revision : 0;
  // Never hand out a version at or below one already in the file (a hand-edited revision).
  const highest = raw.items.reduce<number>((max, item) => Math.max(max, Number((item as { resourceVersion?: unknown })?.resourceVersion) || 0), 0);
  return { ...emptyContent(), ...raw, revision: Math.max(revision, highest), items: raw.items } as FileContent;
}

/** A copy as it will read back from the file (fields set to undefined are absent). */
const withoutUndefined = (e: Elevation): Elevation => JSON.parse(JSON.stringify(e)) as Elevation;

const idOf = (item: unknown): unknown => (item as { id?: unknown } | null)?.id;

/** The entries kubegate can read; the others are logged and ignored (a grant kubegate cannot read grants nothing). */
function readable(content: FileContent, log: Logger): Elevation[] {
  const out: Elevation[] = [];
  const ids = new Set<string>();
  for (const item of content.items) {
    const problem = checkElevation(item);
    if (problem) {
      log.warn('elevation store: ignoring an entry of the file kubegate cannot read', { id: typeof idOf(item) === 'string' ? idOf(item) : undefined, problem });
      continue;
    }
    const e = item as Elevation;
    if (ids.has(e.id)) {
      log.warn('elevation store: ignoring a second entry with the same id', { id: e.id });
      continue;
    }
    ids.add(e.id);
    out.push(e);
  }
  return out;
}

/** The first problem of an entry, or undefined when it is a well-formed Elevation. */
function checkElevation(item: unknown): string | undefined {
  const e = item as Record<string, unknown> | null;
  if (!e || typeof e !== 'object') return 'not an object';
  for (const field of ['id', 'requester', 'reason', 'rule', 'createdAt'] as const) if (typeof e[field] !== 'string' || (field === 'id' && !e[field])) return `${field} is not a string`;
  if (!Array.isArray(e.groups) || !e.groups.every((g) => typeof g === 'string')) return 'groups is not a list of strings';
  if (typeof e.durationSeconds !== 'number' || !Number.isInteger(e.durationSeconds) || e.durationSeconds <= 0) return 'durationSeconds is not a positive integer';
  if (!PHASES.includes(e.phase as ElevationPhase)) return 'phase is not a known phase';
  for (const field of OPTIONAL_STRINGS) if (e[field] !== undefined && typeof e[field] !== 'string') return `${field} is not a string`;
  return undefined;
}

/** Write `text` to `path` so that readers see the old or the new content, never a mix: temp, fsync, rename. */
async function writeAtomically(path: string, text: string): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  let fh: FileHandle | undefined;
  try {
    fh = await open(temp, 'wx', 0o600);
    await fh.writeFile(text, 'utf8');
    await fh.sync();
    await fh.close();
    fh = undefined;
    await rename(temp, path);
  } catch (err) {
    await fh?.close().catch(() => {});
    await unlink(temp).catch(() => {});
    throw err;
  }
}

/** Take the cross-process lock (exclusive create); a lock older than STALE_LOCK_MS is broken. */
async function lock(lockPath: string, timeoutMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fh = await open(lockPath, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`).finally(() => fh.close());
      return () => unlink(lockPath).catch(() => {});
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const age = await stat(lockPath).then((st) => Date.now() - st.mtimeMs, () => 0);
    if (age > STALE_LOCK_MS) {
      await unlink(lockPath).catch(() => {});
      continue;
    }
    if (Date.now() > deadline) throw new Error(`lock ${basename(lockPath)} held for more than ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 10));
  }
}

function unavailable(op: string, id: string, err: unknown): KubegateError {
  if (err instanceof KubegateError) return err;
  return new KubegateError('ELEVATION_STORE_UNAVAILABLE', `elevation store: ${op} failed on the file (${describe(err)})`, { cause: err, details: { operation: op, elevation: id } });
}

function describe(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  if (e?.code) return String(e.code);
  if (err instanceof SyntaxError || err instanceof TypeError) return `not an elevation file (${e?.message ?? ''})`;
  return e?.name ?? 'unknown error';
}
