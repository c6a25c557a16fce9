/**
 * A ReplicatedStore in a JSON file, for the demo and unit tests (and a single-host kubegate). Generic over
 * the record type (elevation grants, revocations). Several kubegate processes may share the file: each
 * sees the others' changes within `pollMs` (default 250 ms).
 *
 * File format (mode 0600; a missing file is an empty store):
 *   { "apiVersion": "kubegate.io/v1alpha1", "kind": "<Kind>File", "revision": 7, "items": [record, ...] }
 * `revision` counts every write; the object a write changes gets it as its `resourceVersion`, so versions
 * increase per object (and compare, as the Kubernetes store's do).
 *
 * Writes: under an in-process queue and a lock file (`<path>.lock`, created exclusively, so two processes
 * cannot interleave a read-modify-write; a lock older than 10 s is taken as left by a crashed process),
 * the file is read fresh, the resourceVersion checked (the conflict code on a stale one), and the new
 * content written to a temporary file in the same directory, fsynced and renamed over the file: a reader
 * sees the old or the new file, never half of one. The writer applies the result to its view at once.
 * Reads by others: every `pollMs` the file's identity (inode, size, mtime, ctime) is compared with the
 * last one seen; when it changed the file is read and the view diffed by id and resourceVersion, emitting
 * events. I/O failures throw the unavailable code; polling failures keep the last view.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { KubegateError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { createLocalView } from './local-view.js';
import type { ReplicatedStore, StoredItem, StoreRecordType } from './types.js';

export interface FileStoreOptions {
  /** The JSON file (created on the first write, mode 0600). Its directory must exist. */
  path: string;
  log: Logger;
  /** How often to look for other processes' changes, in ms (default 250). */
  pollMs?: number;
  /** How long a write waits for another process's lock before the unavailable code (default 5000 ms). */
  lockTimeoutMs?: number;
}

interface FileContent {
  apiVersion: string;
  kind: string;
  revision: number;
  /** As found in the file (entries kubegate cannot read are kept on rewrite, and ignored). */
  items: unknown[];
}

/** The file's own header: `kind` (e.g. `ElevationFile`) and `apiVersion`. */
export interface FileFormat {
  kind: string;
  apiVersion: string;
}

/** A record type as the file store needs it: its format, codes, copies and a check of each entry. */
export interface FileRecordType<T extends StoredItem> extends StoreRecordType<T>, FileFormat {
  /** The first problem of an entry read from the file, or undefined when it is a well-formed record. */
  check(entry: unknown): string | undefined;
}

const STALE_LOCK_MS = 10_000;

/**
 * Open the store. Reading starts at once; `ready()` resolves after the first read of the file (and
 * rejects with the unavailable code if that read fails, e.g. the file is not JSON).
 *
 * @example
 * ```ts
 * const store = createFileStore({ path: "/var/lib/kubegate/elevations.json", log }, ELEVATION_FILE);
 * await store.ready();
 * ```
 */
export function createFileStore<T extends StoredItem>(opts: FileStoreOptions, file: FileRecordType<T>): ReplicatedStore<T> {
  const { path, log } = opts;
  const { noun, codes, copies } = file;
  const empty = () => emptyContent(file);
  const parse = (text: string) => parseFile(text, file);
  const unavailable = (op: string, id: string, err: unknown) => unavailableError(file, op, id, err);
  const pollMs = opts.pollMs ?? 250;
  const lockTimeoutMs = opts.lockTimeoutMs ?? 5_000;
  if (!(pollMs > 0)) throw new TypeError(`createFileStore: pollMs must be positive, got ${pollMs}`);
  const lockPath = `${path}.lock`;
  const view = createLocalView<T>(log, 'file', noun, copies);
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
      return { signature, content: parse(await fh.readFile('utf8')) };
    } finally {
      await fh.close();
    }
  }

  function applyContent(content: FileContent | undefined): void {
    view.reset(content ? readable(content, log, file) : [], { authoritative: true });
  }

  async function poll(): Promise<void> {
    if (closed) return;
    try {
      const { signature, content } = await load();
      if (signature === seen) return;
      applyContent(content);
      seen = signature;
      if (lastPollProblem) log.info(`${noun} store: the file is readable again`, { path });
      lastPollProblem = undefined;
    } catch (err) {
      const problem = describe(err, noun);
      if (problem !== lastPollProblem) log.warn(`${noun} store: cannot read the file; keeping the last view`, { path, problem });
      lastPollProblem = problem;
      throw err;
    }
  }

  const readyPromise = serial(poll).catch((err: unknown) => {
    throw new KubegateError(codes.unavailable, `${noun} store: cannot read ${basename(path)}`, { cause: err, details: { problem: describe(err, noun) } });
  });
  readyPromise.catch(() => {}); // reported to callers of ready() only
  const timer = setInterval(() => void serial(poll).catch(() => {}), pollMs);
  timer.unref();

  /** Run a read-modify-write under the lock; `change` returns the stored item (undefined: nothing stored) or throws. */
  function write<R extends T | undefined>(op: string, id: string, change: (content: FileContent, revision: number) => R): Promise<R> {
    return serial(async () => {
      if (closed) throw new KubegateError(codes.unavailable, `${noun} store: ${op} after close`);
      const release = await lock(lockPath, lockTimeoutMs).catch((err: unknown) => {
        throw unavailable(op, id, err);
      });
      try {
        let current: FileContent;
        try {
          const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
          current = text === undefined ? empty() : parse(text);
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
        return (stored === undefined ? undefined : copies.plain(stored)) as R;
      } finally {
        await release();
      }
    });
  }

  return {
    ready: () => readyPromise,

    create(item) {
      if (!item.id) return Promise.reject(new TypeError(`create: ${noun}.id is required`));
      return write('create', item.id, (content, revision) => {
        if (content.items.some((entry) => idOf(entry) === item.id)) throw new KubegateError(codes.conflict, `${noun} ${item.id} already exists`, { details: { operation: 'create', [noun]: item.id } });
        const stored: T = withoutUndefined({ ...item, resourceVersion: String(revision) });
        content.items.push(stored);
        return stored;
      });
    },

    update(item) {
      if (!item.resourceVersion) return Promise.reject(new TypeError(`update: ${noun}.resourceVersion is required (the version read, for optimistic concurrency)`));
      return write('update', item.id, (content, revision) => {
        const index = content.items.findIndex((entry) => idOf(entry) === item.id);
        const details = { operation: 'update', [noun]: item.id };
        if (index < 0) throw new KubegateError(codes.notFound, `${noun} ${item.id} does not exist`, { details });
        const held = (content.items[index] as { resourceVersion?: unknown }).resourceVersion;
        if (held !== item.resourceVersion) throw new KubegateError(codes.conflict, `${noun} ${item.id} was changed concurrently (stale resourceVersion)`, { details });
        const stored: T = withoutUndefined({ ...item, resourceVersion: String(revision) });
        content.items[index] = stored;
        return stored;
      });
    },

    async get(id) {
      if (closed) throw new KubegateError(codes.unavailable, `${noun} store: get after close`);
      let content: FileContent;
      try {
        const text = await readFile(path, 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? undefined : Promise.reject(err)));
        content = text === undefined ? empty() : parse(text);
      } catch (err) {
        throw unavailable('get', id, err);
      }
      const found = readable(content, log, file).find((e) => e.id === id);
      return found && copies.plain(found);
    },

    delete(id) {
      return write('delete', id, (content) => {
        const index = content.items.findIndex((entry) => idOf(entry) === id);
        if (index < 0) throw new KubegateError(codes.notFound, `${noun} ${id} does not exist`, { details: { operation: 'delete', [noun]: id } });
        content.items.splice(index, 1);
        return undefined;
      }).then(() => true, (err: unknown) => (err instanceof KubegateError && err.code === codes.notFound ? false : Promise.reject(err)));
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

function emptyContent(file: FileFormat): FileContent {
  return { apiVersion: file.apiVersion, kind: file.kind, revision: 0, items: [] };
}

/** @throws SyntaxError / TypeError when the text is not such a file. */
function parseFile(text: string, file: FileFormat & { noun: string }): FileContent {
  if (text.trim() === '') return emptyContent(file);
  const raw = JSON.parse(text) as Partial<FileContent> | null;
  if (!raw || typeof raw !== 'object' || !Array.isArray(raw.items)) throw new TypeError(`not ${article(file.noun)} file: no "items" list`);
  const revision = typeof raw.revision === 'number' && Number.isSafeInteger(raw.revision) && raw.revision >= 0 ? raw.revision : 0;
  // Never hand out a version at or below one already in the file (a hand-edited revision).
  const highest = raw.items.reduce<number>((max, item) => Math.max(max, Number((item as { resourceVersion?: unknown })?.resourceVersion) || 0), 0);
  return { ...emptyContent(file), ...raw, revision: Math.max(revision, highest), items: raw.items } as FileContent;
}

/** A copy as it will read back from the file (fields set to undefined are absent). */
const withoutUndefined = <T>(e: T): T => JSON.parse(JSON.stringify(e)) as T;

const idOf = (item: unknown): unknown => (item as { id?: unknown } | null)?.id;

/** The entries kubegate can read; the others are logged and ignored (a record kubegate cannot read does nothing). */
function readable<T extends StoredItem>(content: FileContent, log: Logger, file: FileRecordType<T>): T[] {
  const out: T[] = [];
  const ids = new Set<string>();
  for (const item of content.items) {
    const problem = file.check(item);
    if (problem) {
      log.warn(`${file.noun} store: ignoring an entry of the file kubegate cannot read`, { id: typeof idOf(item) === 'string' ? idOf(item) : undefined, problem });
      continue;
    }
    const e = item as T;
    if (ids.has(e.id)) {
      log.warn(`${file.noun} store: ignoring a second entry with the same id`, { id: e.id });
      continue;
    }
    ids.add(e.id);
    out.push(e);
  }
  return out;
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

function unavailableError(file: StoreRecordType<StoredItem>, op: string, id: string, err: unknown): KubegateError {
  if (err instanceof KubegateError) return err;
  return new KubegateError(file.codes.unavailable, `${file.noun} store: ${op} failed on the file (${describe(err, file.noun)})`, { cause: err, details: { operation: op, [file.noun]: id } });
}

function describe(err: unknown, noun: string): string {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  if (e?.code) return String(e.code);
  if (err instanceof SyntaxError || err instanceof TypeError) return `not ${article(noun)} file (${e?.message ?? ''})`;
  return e?.name ?? 'unknown error';
}

const article = (noun: string) => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`);
