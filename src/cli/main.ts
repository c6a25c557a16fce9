/** `kubegate <command>`: parses the command name and hands the rest to that command. */
import { KubegateError } from '../errors/errors.js';
import { checkConfigCommand } from './check-config.js';
import { serveCommand } from './serve.js';
import { usage } from './usage.js';

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  serve: serveCommand,
  'check-config': checkConfigCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    process.stdout.write(usage());
    return 0;
  }
  const run = COMMANDS[command];
  if (!run) {
    process.stderr.write(`kubegate: unknown command ${JSON.stringify(command)}\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage(command));
    return 0;
  }
  try {
    return await run(rest);
  } catch (err) {
    if (err instanceof KubegateError) process.stderr.write(`kubegate ${command}: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`kubegate ${command}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
