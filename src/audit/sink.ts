/**
 * Where audit records go. An {@link AuditOutput} takes whole records as JSON text (one line each, no
 * newline) and fans them out to the configured backends:
 * - the log (`audit.logPath`): a file, rotated by rotating-file-stream (size, backups, gzip; max age
 *   enforced on each rotation), or `-` for stdout. One `write()` carries whole lines only, and
 *   rotating-file-stream never splits one write across two files, so every file holds whole Events and
 *   ends with a newline;
 * - the webhook (audit/webhook.ts), when `audit.webhook.configFile` is set.
 * Each backend says whether it is healthy; losses are counted and logged.
 */
import { readdirSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, extname, join } from 'node:path';
import type { Writable } from 'node:stream';
import { createStream } from 'rotating-file-stream';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';

export interface AuditBackend {
  readonly name: string;
  /** One record as JSON text (no newline). Never throws; a record it cannot keep is counted as dropped. */
  write(line: string): void;
  /** False while records are being lost (the file cannot be written, the webhook's buffer is full). */
  healthy(): boolean;
  /** Write out everything still buffered, then release the file/connection. */
  close(): Promise<void>;
}

export interface AuditOutput {
  write(line: string): void;
  healthy(): boolean;
  close(): Promise<void>;
}

export interface BackendEvents {
  /** `count` records a backend could not keep. */
  dropped(backend: string, count: number, why: string): void;
  /** A backend became healthy or unhealthy. */
  health(backend: string, healthy: boolean): void;
  /** A backend started (healthy). */
  started?(backend: string): void;
}

export function fanOut(backends: AuditBackend[]): AuditOutput {
  return {
    write(line) {
      for (const b of backends) b.write(line);
    },
    healthy: () => backends.every((b) => b.healthy()),
    async close() {
      await Promise.all(backends.map((b) => b.close()));
    },
  };
}

export interface LogSettings {
  /** A file path, or `-` for stdout. */
  path: string;
  /** Rotate when the file reaches this many megabytes; 0: never rotate. */
  maxSizeMB: number;
  /** Delete rotated files older than this many days; 0: keep regardless of age. */
  maxAgeDays: number;
  /** Keep at most this many rotated files; 0: keep all. */
  maxBackups: number;
  /** gzip rotated files. */
  compress: boolean;
  /** blocking: each record is written as it happens; batch: records are gathered and written together. */
  mode: 'blocking' | 'batch';
  batchMaxSize: number;
  batchMaxWaitMs: number;
}

/** How long to wait before reopening a log file that failed. */
const REOPEN_MS = 1000;
/** Records kept in memory while a file is being (re)opened, beyond which they are dropped. */
const PENDING_LIMIT = 10_000;

/** @throws KubegateError AUDIT_UNAVAILABLE when the log file cannot be opened. */
export function createLogBackend(s: LogSettings, events: BackendEvents, log: Logger): AuditBackend {
  const name = 'log';
  const toStdout = s.path === '-';
  let stream: Writable | undefined;
  let opening: Writable | undefined;
  let ok = true;
  let pending: string[] = [];
  let timer: NodeJS.Timeout | undefined;
  let closing = false;
  // Rotation jobs under way (renaming, gzipping): close() waits for them.
  let rotations = 0;
  let rotated: (() => void) | undefined;
  const setOk = (value: boolean) => {
    if (ok === value) return;
    ok = value;
    events.health(name, value);
  };

  const open = (): Writable => {
    if (toStdout) return process.stdout;
    const dir = dirname(s.path);
    const file = basename(s.path);
    const ext = extname(file);
    const stem = file.slice(0, file.length - ext.length);
    // lumberjack's (kube-apiserver's) names: audit-2026-11-27T03-12-00.000.log, in the log's directory.
    const rotatedName = (time: Date | number | null, index?: number) => {
      if (time === null) return file;
      const at = (time instanceof Date ? time : new Date()).toISOString().replace(/:/g, '-').replace('Z', '');
      // (rotating-file-stream adds no .gz to names a generator makes)
      return `${stem}-${at}${index && index > 1 ? `-${index}` : ''}${ext}${s.compress ? '.gz' : ''}`;
    };
    const stream = createStream(rotatedName, {
      path: dir,
      mode: 0o600,
      ...(s.maxSizeMB > 0 && { size: `${s.maxSizeMB}M` }),
      ...(s.maxBackups > 0 && { maxFiles: s.maxBackups, history: `.${file}.history` }),
      ...(s.compress && { compress: 'gzip' }),
    });
    stream.on('rotation', () => rotations++);
    stream.on('rotated', () => {
      rotations--;
      if (s.maxAgeDays > 0) removeOld(dir, stem, ext, file, s.maxAgeDays, log);
      if (rotations === 0) rotated?.();
    });
    stream.on('warning', (err: Error) => log.warn('audit log rotation warning', { error: err.message }));
    return stream;
  };
  // `stream` is set once the file is open; until then (and while a failed file waits to be reopened) records
  // stay in `pending`. Marking the log healthy, or handing it records, before the open succeeds would lose
  // them, uncounted, when the (re)open fails.
  const start = () => {
    if (toStdout) {
      stream = process.stdout;
      return;
    }
    const st = open();
    opening = st;
    st.on('open', () => {
      if (opening !== st) return;
      opening = undefined;
      stream = st;
      if (!ok) log.info('audit log writable again', { path: s.path });
      setOk(true);
      flush();
    });
    st.on('error', (err: Error) => {
      if (st !== stream && st !== opening) return;
      log.error('audit log cannot be written', { path: s.path, error: err.message, keptInMemory: pending.length });
      stream = undefined;
      opening = undefined;
      setOk(false);
      reopenLater();
    });
  };
  const reopenLater = () => {
    if (closing) return;
    setTimeout(() => {
      if (closing) return;
      try {
        start();
      } catch {
        reopenLater();
      }
    }, REOPEN_MS).unref();
  };

  try {
    start();
  } catch (err) {
    throw new KubegateError('AUDIT_UNAVAILABLE', `cannot open audit log ${s.path}: ${(err as Error).message}`, { cause: err });
  }

  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (pending.length === 0 || stream === undefined) return;
    const count = pending.length;
    const chunk = pending.join('\n') + '\n';
    pending = [];
    // A write that fails (disk full) may have been partly written: counted as lost, not written twice.
    stream.write(chunk, (err) => {
      if (err) events.dropped(name, count, 'the audit log cannot be written');
    });
  };

  return {
    name,
    write(line) {
      if (closing) return events.dropped(name, 1, 'the audit log is closed');
      if (pending.length >= PENDING_LIMIT) return events.dropped(name, 1, 'the audit log cannot be written');
      pending.push(line);
      if (stream === undefined) return;
      if (s.mode === 'batch') {
        if (pending.length >= s.batchMaxSize) flush();
        else timer ??= setTimeout(flush, s.batchMaxWaitMs);
      } else if (pending.length === 1) {
        // Records of one event-loop turn go out in one write.
        setImmediate(flush);
      }
    },
    healthy: () => ok,
    async close() {
      // A file still being opened: wait for it (or its failure), so the records kept meanwhile are written.
      const o = stream === undefined ? opening : undefined;
      if (o !== undefined) await new Promise<void>((resolve) => (o.once('open', () => resolve()), o.once('error', () => resolve())));
      flush();
      closing = true;
      const s2 = stream;
      if (pending.length > 0) events.dropped(name, pending.length, 'the audit log could not be written before shutdown');
      if (s2 === undefined || toStdout) return;
      return new Promise<void>((resolve) => {
        s2.once('error', () => resolve());
        s2.end(() => {
          if (rotations === 0) resolve();
          else rotated = resolve;
        });
      });
    },
  };
}

/** maxage: rotated files of this log older than `days` are deleted (as lumberjack does). */
function removeOld(dir: string, stem: string, ext: string, active: string, days: number, log: Logger): void {
  const cutoff = Date.now() - days * 86_400_000;
  try {
    for (const name of readdirSync(dir)) {
      if (name === active || !name.startsWith(`${stem}-`) || !(name.endsWith(ext) || name.endsWith(`${ext}.gz`))) continue;
      const path = join(dir, name);
      if (statSync(path).mtimeMs < cutoff) unlinkSync(path);
    }
  } catch (err) {
    log.warn('cannot remove old audit log files', { error: (err as Error).message });
  }
}
