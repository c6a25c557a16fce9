/**
 * Where audit events go: one JSON line per event through winston, to a file (`audit.logPath`) or `-`
 * (stdout). Later sinks (webhook, rotation) slot in as more transports.
 */
import { createWriteStream, openSync } from 'node:fs';
import { KubegateError } from '../errors/errors.js';
import winston from 'winston';
import type { AuditEvent } from './event.js';

export interface AuditSink {
  write(event: AuditEvent): void;
  close(): Promise<void>;
}

/** @throws KubegateError AUDIT_UNAVAILABLE when the file cannot be opened for appending. */
export function createAuditSink(logPath: string, onError: (err: Error) => void): AuditSink {
  let file: ReturnType<typeof createWriteStream> | undefined;
  if (logPath !== '-') {
    let fd: number;
    try {
      fd = openSync(logPath, 'a', 0o600);
    } catch (err) {
      throw new KubegateError('AUDIT_UNAVAILABLE', `cannot open audit log ${logPath}: ${(err as Error).message}`, { cause: err });
    }
    file = createWriteStream('', { fd });
    file.on('error', onError);
  }
  const transport = new winston.transports.Stream({ stream: file ?? process.stdout });
  const logger = winston.createLogger({
    level: 'info',
    format: winston.format.printf((info) => String(info.message)),
    transports: [transport],
  });
  // Events of one event-loop turn go to the file in one writev instead of one write each.
  let corked = false;
  const uncork = () => {
    corked = false;
    file?.uncork();
  };
  return {
    write(event) {
      if (file && !corked) {
        corked = true;
        file.cork();
        setImmediate(uncork);
      }
      logger.info(JSON.stringify(event));
    },
    close() {
      return new Promise((resolve) => {
        const f = file;
        if (f === undefined) return resolve();
        f.on('close', () => resolve());
        logger.on('finish', () => f.end());
        logger.end();
      });
    },
  };
}
