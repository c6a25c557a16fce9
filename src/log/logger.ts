/** kubegate's operational log: JSON lines on stderr through winston. Audit records go elsewhere (audit/). */
import winston from 'winston';

export type { Logger } from 'winston';

export function createLogger(level: string = process.env.KUBEGATE_LOG_LEVEL ?? 'info'): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything (tests that do not look at logs). */
export function silentLogger(): winston.Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
