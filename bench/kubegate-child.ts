/**
 * kubegate for the benchmark's audit on/off comparison (scenario 6), as its own process: the real
 * startKubegate with the config given in BENCH_CONFIG (JSON), in BENCH_WORKERS cluster workers (default 1).
 * BENCH_AUDIT=off swaps in a sink that drops events, only to measure what audit costs (the CLI cannot do
 * that, so every other scenario runs the real `kubegate serve`). BENCH_KUBEGATE_DIST=1 loads the compiled
 * dist/ instead of src/ (this file itself still runs through tsx). Prints `READY <port>` once every
 * worker is ready.
 */
import cluster from 'node:cluster';

type Server = typeof import('../src/server/server.js');
type Validate = typeof import('../src/config/validate.js');
type Log = typeof import('../src/log/logger.js');
// A path in a variable, so the type checker does not need dist/ to exist.
const base = process.env.BENCH_KUBEGATE_DIST === '1' ? '../dist' : '../src';
const load = <T>(path: string) => import(new URL(`${base}/${path}`, import.meta.url).href) as Promise<T>;

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
  const { startKubegate } = await load<Server>('server/server.js');
  const { validateConfigOrThrow } = await load<Validate>('config/validate.js');
  const { createLogger } = await load<Log>('log/logger.js');
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
