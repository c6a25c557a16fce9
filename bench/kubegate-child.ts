/**
 * kubegate for the benchmark, as its own process: the real startKubegate with the config given in
 * BENCH_CONFIG (JSON), in BENCH_WORKERS cluster workers (default 1). BENCH_AUDIT=off swaps in a sink
 * that drops events, only to measure what audit costs. Prints `READY <port>` once every worker is ready.
 */
import cluster from 'node:cluster';
import { validateConfigOrThrow } from '../src/config/validate.js';
import { createLogger } from '../src/log/logger.js';
import { startKubegate } from '../src/server/server.js';

const workers = Number(process.env.BENCH_WORKERS ?? 1);
if (workers > 1 && cluster.isPrimary) {
  let ready = 0;
  for (let i = 0; i < workers; i++) {
    cluster.fork().on('message', (msg: { port: number }) => {
      if (++ready === workers) process.stdout.write(`READY ${msg.port}\n`);
    });
  }
  process.on('SIGTERM', () => {
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGTERM');
    process.exit(0);
  });
} else {
  const config = validateConfigOrThrow(JSON.parse(process.env.BENCH_CONFIG ?? '{}'));
  const running = await startKubegate(config, {
    log: createLogger('warn'),
    ...(process.env.BENCH_AUDIT === 'off' ? { auditOutput: { write() {}, healthy: () => true, close: async () => {} } } : {}),
  });
  await running.ready();
  if (cluster.isWorker) process.send?.({ port: running.port });
  else process.stdout.write(`READY ${running.port}\n`);
  process.on('SIGTERM', () => void running.close().then(() => process.exit(0)));
}
