/**
 * `kubegate serve`: one process, or with `--workers N` a primary that forks N workers sharing the port
 * (node:cluster). Each worker is a complete kubegate with its own caches; a worker that dies is replaced.
 * SIGTERM/SIGINT drain in-flight requests and stop.
 */
import cluster from 'node:cluster';
import { loadConfig } from '../config/load.js';
import { createLogger, type Logger } from '../log/logger.js';
import { startKubegate } from '../server/server.js';

export async function serveCommand(argv: string[]): Promise<number> {
  const { config } = loadConfig(argv);
  const log = createLogger();
  if (config.server.workers > 1 && cluster.isPrimary) return exit(await supervise(config.server.workers, log));
  const running = await startKubegate(config, { log });
  const signal = await stopSignal();
  log.info('shutting down', { signal });
  await running.close();
  return exit(0);
}

/** In-flight requests are drained and the audit log flushed by now: leave even if idle keep-alive
 * sockets (identity provider, cluster IPC) would keep the event loop alive. */
function exit(code: number): never {
  process.exit(code);
}

async function supervise(workers: number, log: Logger): Promise<number> {
  let stopping = false;
  const fork = () => cluster.fork();
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    log.error('worker exited; starting a replacement', { pid: worker.process.pid, code, signal });
    fork();
  });
  for (let i = 0; i < workers; i++) fork();
  log.info('kubegate primary supervising workers', { workers });
  const signal = await stopSignal();
  stopping = true;
  log.info('shutting down workers', { signal });
  await Promise.all(
    Object.values(cluster.workers ?? {}).map(
      (worker) =>
        new Promise<void>((resolve) => {
          if (!worker || worker.isDead()) return resolve();
          worker.once('exit', () => resolve());
          worker.process.kill('SIGTERM');
        }),
    ),
  );
  return 0;
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
