/** kubegate's operational log captured as parsed JSON lines, so a test can wait for or count an event. */
import { Writable } from 'node:stream';
import winston from 'winston';

export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

export function captureLogger(): { log: winston.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk, _enc, cb) => {
            for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as LogLine);
            cb();
          },
        }),
      }),
    ],
  });
  return { log, lines };
}
