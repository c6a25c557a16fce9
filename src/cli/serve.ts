/**
 * `kubegate serve`: one process, or with `--workers N` a primary that forks N workers sharing the port
 * (node:cluster). Each worker is a complete kubegate with its own caches; a worker that dies is replaced;
 * the primary serves /metrics aggregated over every worker (prom-client's cluster registry).
 * SIGTERM/SIGINT shut down gracefully (see RunningKubegate.shutdown); a second signal exits at once.
 */
import cluster from 'node:cluster';
import { AggregatorRegistry } from '../metrics/prom.js';
import { loadConfig } from '../config/load.js';
import { configError } from '../config/validate.js';
import { checkCaFiles } from './file-checks.js';
import { redactConfig } from '../config/redact.js';
import type { Config } from '../config/schema.js';
import { createLogger, type Logger } from '../log/logger.js';
import { startMetricsListener } from '../metrics/listener.js';
import { createMetrics } from '../metrics/metrics.js';
import { startKubegate, type RunningKubegate } from '../server/server.js';
import { startPrimaryAudit } from '../audit/trail.js';
import { watchConfigFile } from '../config/watch.js';
import type { Metrics } from '../metrics/metrics.js';
import { VERSION } from '../version/version.js';

export async function serveCommand(argv: string[]): Promise<number> {
  const { config, sources } = loadConfig(argv);
  // Node ignores a CA file without certificates (the issuer would later show as "not trusted"): refuse
  // it now, naming the file.
  const caIssues = checkCaFiles(config);
  if (caIssues.length > 0) throw configError(caIssues);
  const log = createLogger(config.log.level);
  if (config.server.workers > 1 && cluster.isPrimary) {
    log.info('kubegate starting', { version: VERSION, node: process.version, sources, config: redactConfig(config) });
    return exit(await supervise(config, log));
  }
  const worker = cluster.isWorker;
  if (!worker) log.info('kubegate starting', { version: VERSION, node: process.version, sources, config: redactConfig(config) });
  const metrics = createMetrics();
  // A worker's metrics are collected by the primary over IPC, which serves the aggregate.
  // (prom-client answers the primary's requests only once an AggregatorRegistry exists in the worker.)
  if (worker) {
    new AggregatorRegistry();
    AggregatorRegistry.setRegistries([metrics.registry]);
  }
  const running = await startKubegate(config, { log, metrics, metricsListener: !worker });
  const watch = configFile(argv) === undefined ? undefined : watchConfigFile(configFile(argv)!, () => reloadConfig(argv, running, metrics, log));
  const signal = await stopSignal();
  watch?.stop();
  log.info('shutting down', { signal });
  forceOnSecondSignal(log);
  await running.shutdown();
  return exit(0);
}

/** The config file `serve` reads (`--config FILE` or KUBEGATE_CONFIG), if any. */
function configFile(argv: readonly string[]): string | undefined {
  const i = argv.findIndex((a) => a === '--config' || a.startsWith('--config='));
  if (i >= 0) return argv[i]!.includes('=') ? argv[i]!.slice('--config='.length) : argv[i + 1];
  return process.env.KUBEGATE_CONFIG || undefined;
}

/** The file changed: validate everything again; apply what can change, keep the rest, refuse what is invalid. */
function reloadConfig(argv: string[], running: RunningKubegate, metrics: Metrics, log: Logger): void {
  let next: Readonly<Config>;
  try {
    next = loadConfig(argv).config;
  } catch (err) {
    metrics.configReloads.inc({ result: 'refused' });
    log.error('configuration change refused; the running configuration stays', { error: (err as Error).message });
    return;
  }
  const { applied, needsRestart } = running.reload(next);
  metrics.configReloads.inc({ result: 'applied' });
  log.info('configuration reloaded', { applied, config: redactConfig(next) });
  if (needsRestart.length > 0) log.warn('configuration changes that take effect only after a restart', { settings: needsRestart });
}

/** A second SIGTERM/SIGINT during the graceful shutdown exits at once (audit records may be lost). */
function forceOnSecondSignal(log: Logger): void {
  const force = (signal: string) => {
    log.warn('second signal: exiting without waiting', { signal });
    process.exit(1);
  };
  process.once('SIGTERM', () => force('SIGTERM'));
  process.once('SIGINT', () => force('SIGINT'));
}

/** In-flight requests are drained and the audit log flushed by now: leave even if idle keep-alive
 * sockets (identity provider, cluster IPC) would keep the event loop alive. */
function exit(code: number): never {
  process.exit(code);
}

async function supervise(config: Readonly<Config>, log: Logger): Promise<number> {
  const workers = config.server.workers;
  let stopping = false;
  const aggregator = new AggregatorRegistry();
  const metricsListener =
    config.server.metricsBindAddress === '0'
      ? undefined
      : await startMetricsListener(config.server.metricsBindAddress, async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }));
  if (metricsListener) log.info('metrics for every worker', { url: `${metricsListener.url}/metrics` });
  // One audit writer: the workers send their records here (audit/cluster.ts).
  const audit = await startPrimaryAudit(config, log);
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
  forceOnSecondSignal(log);
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
  await metricsListener?.close();
  await audit.close();
  return 0;
}

function stopSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
}
