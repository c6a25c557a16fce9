/**
 * `kubegate <command>`: parses the command name and hands the rest to that command. Commands are loaded
 * on demand, so the client commands (sudo, elevations, login, logout, kubeconfig) never load the server.
 *
 * Exit codes: 0 success; 1 refused or failed (the cause on stderr); 2 usage error; 130 interrupted.
 */
import { KubegateError } from '../errors/errors.js';
import { LoginError } from '../login/errors.js';
import { UsageError, usage } from './usage.js';
import { VERSION } from '../version/version.js';
import { suggest } from '../config/suggest.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import('./serve.js')).serveCommand,
  'check-config': async () => (await import('./check-config.js')).checkConfigCommand,
  sudo: async () => (await import('./sudo.js')).sudoCommand,
  elevations: async () => (await import('./elevations.js')).elevationsCommand,
  revoke: async () => (await import('./revoke.js')).revokeCommand,
  revocations: async () => (await import('./revocations.js')).revocationsCommand,
  login: async () => (await import('./login.js')).loginCommand,
  logout: async () => (await import('./logout.js')).logoutCommand,
  kubeconfig: async () => (await import('./kubeconfig.js')).kubeconfigCommand,
  version: async () => (await import('./version.js')).versionCommand,
};

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined) {
    process.stderr.write(usage());
    return 2;
  }
  if (command === '--version') {
    process.stdout.write(`kubegate ${VERSION}\n`);
    return 0;
  }
  if (command === 'help' || command === '--help' || command === '-h') {
    const topic = rest[0];
    if (topic !== undefined && !Object.hasOwn(COMMANDS, topic)) {
      process.stderr.write(`kubegate help: unknown command ${JSON.stringify(topic)}${suggestCommand(topic)}\n\n${usage()}`);
      return 2;
    }
    process.stdout.write(usage(topic));
    return 0;
  }
  const load = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
  if (!load) {
    process.stderr.write(`kubegate: unknown command ${JSON.stringify(command)}${suggestCommand(command)}\n\n${usage()}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(usage(command));
    return 0;
  }
  try {
    const run = await load();
    return await run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`kubegate ${command}: ${err.message}\nRun 'kubegate ${command} --help' for usage.\n`);
      return 2;
    }
    // A client command's failure: its message is for the person and names the cause.
    if (err instanceof LoginError) {
      process.stderr.write(`kubegate ${command}: ${err.message}\n`);
      return err.code === 'INTERRUPTED' ? 130 : 1;
    }
    // Imported here, not at the top: the login plugin must not pay for it on every kubectl run.
    const { KubegateApiError } = await import('./kubegate-api-error.js');
    if (err instanceof KubegateApiError) process.stderr.write(`kubegate ${command}: ${err.message}\n`);
    else if (err instanceof KubegateError) process.stderr.write(`kubegate ${command}: ${err.code}: ${err.message}\n`);
    else process.stderr.write(`kubegate ${command}: ${(err as Error).stack ?? String(err)}\n`);
    return 1;
  }
}

/** `; did you mean "serve"?` for a near miss (a flag given as a command, or a typo), else ''. */
function suggestCommand(given: string): string {
  const hint = suggest(given.replace(/^-+/, ''), Object.keys(COMMANDS));
  return hint.replace('--', '').replace(/did you mean (\S+)\?/, 'did you mean "$1"?');
}

process.exitCode = await main(process.argv.slice(2));
