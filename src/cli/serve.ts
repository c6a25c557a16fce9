import { loadConfig } from '../config/load.js';
import { createLogger } from '../log/logger.js';
import { startKubegate } from '../server/server.js';

export async function serveCommand(argv: string[]): Promise<number> {
  const { config } = loadConfig(argv);
  const log = createLogger();
  const running = await startKubegate(config, { log });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      log.info('shutting down', { signal });
      resolve();
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  await running.close();
  return 0;
}
