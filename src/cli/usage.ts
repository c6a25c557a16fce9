/**
 * Help text for every command, and the usage error a command throws for a bad command line (main.ts
 * prints it and exits 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FLAGS, envNameForFlag } from '../config/flags.js';

/** A bad command line: main.ts prints the message with a pointer to `--help` and exits 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * node:util parseArgs with its errors turned into a {@link UsageError}.
 * @throws UsageError for an unknown flag, a missing value, or a positional argument where none is allowed.
 */
export function parseFlags<T extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: T, allowPositionals: boolean) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    const message = (err as Error).message.replace(/\. To specify a positional argument.*$/s, '');
    throw new UsageError(message);
  }
}

/** Flags every client command takes: which kubeconfig context, and the output format. */
export const CLIENT_FLAGS = {
  kubeconfig: { type: 'string' },
  context: { type: 'string' },
  output: { type: 'string', short: 'o' },
} as const;

export type OutputFormat = 'text' | 'json';

/** `-o json` or nothing. @throws UsageError for any other value. */
export function outputFormat(value: string | undefined): OutputFormat {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new UsageError(`-o/--output must be json, got ${JSON.stringify(value)}`);
}

const CLIENT_FLAG_HELP = [
  `  ${'--kubeconfig FILE'.padEnd(26)}the kubeconfig to use (default: the KUBECONFIG list, then ~/.kube/config)`,
  `  ${'--context NAME'.padEnd(26)}the kubeconfig context (default: its current-context); its server must be a kubegate`,
];

const SUDO = [
  'Usage: kubegate sudo --group GROUP [--group GROUP2 ...] --for DURATION --reason TEXT [flags]',
  '',
  'Ask kubegate to add groups to your identity for a bounded time (break-glass elevation). When a rule needs a',
  'second person, waits until someone approves (they run: kubegate elevations approve ID).',
  '',
  'Flags:',
  `  ${'--group GROUP'.padEnd(26)}a group to hold; repeat for several (each allowed by a rule you are eligible for)`,
  `  ${'--for DURATION'.padEnd(26)}how long once active: 90s, 15m, 1h, 1h30m`,
  `  ${'--reason TEXT'.padEnd(26)}why: an incident or ticket number (recorded and shown to approvers)`,
  `  ${'--no-wait'.padEnd(26)}do not wait for approval: print the elevation's id and exit`,
  `  ${'--wait-timeout DURATION'.padEnd(26)}how long to wait for approval (default 10m); the request stays pending after`,
  `  ${'-o, --output json'.padEnd(26)}print the Elevation as JSON instead of a line of text`,
  ...CLIENT_FLAG_HELP,
  '',
  'stdout holds only the result (one line, the id with --no-wait, or JSON); progress goes to stderr.',
  'Exit status: 0 elevated (with --no-wait: requested); 1 refused, revoked, expired, not approved in time,',
  'or kubegate unreachable (the reason on stderr); 2 usage error; 130 interrupted while waiting.',
  'Environment: KUBEGATE_SUDO_POLL_MS sets how often a pending request is checked (default 2000).',
];

const ELEVATIONS = [
  'Usage: kubegate elevations <list | get ID | approve ID | revoke ID> [flags]',
  '',
  'Subcommands:',
  `  ${'list'.padEnd(26)}your elevations, everyone's if you are an approver: ID, REQUESTER, GROUPS, PHASE, EXPIRES, REASON`,
  `  ${'get ID'.padEnd(26)}one elevation in detail`,
  `  ${'approve ID'.padEnd(26)}approve someone else's pending elevation: it becomes Active`,
  `  ${'revoke ID'.padEnd(26)}end an elevation now (yours, or anyone's if you are an approver), pending or active`,
  '',
  'Flags:',
  `  ${'-o, --output json'.padEnd(26)}print the answer as JSON (an ElevationList for list, else the Elevation)`,
  ...CLIENT_FLAG_HELP,
  '',
  'Exit status: 0 done; 1 refused or failed (the reason on stderr); 2 usage error.',
];

export function usage(command?: string): string {
  if (command === 'sudo') return SUDO.join('\n') + '\n';
  if (command === 'elevations') return ELEVATIONS.join('\n') + '\n';
  const lines = [
    'Usage: kubegate <command> [flags]',
    '',
    'Commands:',
    '  serve          run the proxy',
    '  check-config   validate the configuration and print what serve would do (secrets redacted)',
    '  sudo           hold extra groups for a bounded time, with a reason (break-glass elevation)',
    '  elevations     list, get, approve and revoke elevations',
    '',
  ];
  if (command === undefined || command === 'serve' || command === 'check-config') {
    lines.push('Flags (serve, check-config); each also reads KUBEGATE_<FLAG> from the environment, flags win:');
    lines.push(`  ${'--config FILE'.padEnd(38)}YAML config file with the same settings (see README)  [KUBEGATE_CONFIG]`);
    for (const [name, spec] of Object.entries(FLAGS)) {
      lines.push(`  ${`--${name}`.padEnd(37)} ${spec.help}  [${envNameForFlag(name)}]`);
    }
  }
  if (command === undefined) lines.push('', "Run 'kubegate sudo --help' or 'kubegate elevations --help' for their flags.");
  return lines.join('\n') + '\n';
}
