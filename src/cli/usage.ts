/**
 * Help text for every command, and the usage error a command throws for a bad command line (main.ts
 * prints it and exits 2).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { FLAGS, envNameForFlag } from '../config/flags.js';
import { REVOCATIONS_USAGE, REVOKE_USAGE } from './revocation-usage.js';

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

/** What ids of kubegate's API objects look like (`elev-…`, `rev-…`): a DNS label. */
const OBJECT_ID = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A parsed `<list | VERB ID> [-o json] [--kubeconfig F] [--context C]` command line. */
export interface ObjectCommand<V extends string> {
  action: { verb: 'list' } | { verb: V; id: string };
  selection: { kubeconfig: string | undefined; context: string | undefined };
  output: OutputFormat;
}

/**
 * The command line of a command over kubegate's API objects (`kubegate elevations`, `kubegate
 * revocations`): `list`, or one of `verbs` with one ID; anything else is refused before any request.
 * @throws UsageError for a missing or unknown subcommand, a missing, extra or malformed ID, unknown flags.
 */
export function parseObjectCommand<V extends string>(argv: string[], spec: { verbs: readonly V[]; noun: string; idPrefix: string; command: string }): ObjectCommand<V> {
  const verbs = ['list', ...spec.verbs];
  const { values, positionals } = parseFlags(argv, CLIENT_FLAGS, true);
  const [verb, ...args] = positionals;
  if (verb === undefined) throw new UsageError(`a subcommand is required: ${verbs.join(', ')}`);
  if (!verbs.includes(verb)) throw new UsageError(`unknown subcommand ${JSON.stringify(verb)}: use ${verbs.join(', ')}`);
  const selection = { kubeconfig: values.kubeconfig, context: values.context };
  const output = outputFormat(values.output);
  if (verb === 'list') {
    if (args.length) throw new UsageError(`list takes no arguments, got ${JSON.stringify(args.join(' '))}`);
    return { action: { verb: 'list' }, selection, output };
  }
  if (args.length !== 1 || args[0] === undefined) throw new UsageError(`${verb} takes one ${spec.noun} ID${args.length ? `, got ${args.length}` : ''}`);
  if (!OBJECT_ID.test(args[0])) throw new UsageError(`${JSON.stringify(args[0])} is not ${/^[aeiou]/.test(spec.noun) ? 'an' : 'a'} ${spec.noun} ID (IDs look like ${spec.idPrefix}…; see ${spec.command} list)`);
  return { action: { verb: verb as V, id: args[0] }, selection, output };
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

const f = (flag: string, help: string) => `  ${flag.padEnd(34)}${help}`;

const LOGIN_SETTING_HELP = [
  f('--issuer URL', 'the OpenID Connect issuer (https), exactly as its discovery document says'),
  f('--client-id ID', 'the client registered at the identity provider for kubegate login'),
  f('--client-secret SECRET', 'only if the identity provider insists on one for this client'),
  f('--scopes a,b', 'extra scopes, e.g. groups,offline_access (openid is always asked for)'),
  f('--grant code|device', 'code: browser sign-in via http://127.0.0.1:<port>/callback (default);'),
  f('', 'device: print a URL and a code to enter on any device (SSH sessions, headless)'),
  f('--listen-port N', 'the loopback callback port for --grant code (default 0: any free port)'),
  f('--auth-param KEY=VALUE', 'an extra authorization request parameter; repeat for several'),
  f('', '(e.g. access_type=offline for Google; prompt= to send no prompt)'),
];

const LOGIN = [
  'Usage: kubegate login --issuer URL --client-id ID [flags]',
  '',
  'The kubectl exec credential plugin: prints one client.authentication.k8s.io/v1 ExecCredential holding',
  'your ID token on stdout (nothing else); messages, the sign-in URL and device codes go to stderr.',
  'It reuses a cached token while it is valid, refreshes it with the refresh token once it expires',
  '(ask for offline_access to get one), and signs you in again only when that fails. When kubectl runs',
  'it without a terminal (KUBERNETES_EXEC_INFO interactive: false) it never opens a browser: it fails',
  'and prints the command to run. `kubegate kubeconfig` writes a kubeconfig that runs this for you.',
  '',
  'Flags:',
  ...LOGIN_SETTING_HELP,
  f('--certificate-authority FILE', "CA bundle for the issuer's TLS certificate (default: system roots)"),
  f('--force', 'sign in again now, with prompt=login and max_age=0 (a fresh MFA, e.g. before sudo)'),
  f('--cache-dir DIR', 'token cache (default $XDG_CACHE_HOME/kubegate, else ~/.kube/cache/kubegate)'),
  '',
  'The browser is $BROWSER, else xdg-open/open; the URL is printed on stderr in any case.',
  'Exit status: 0 printed a credential; 1 failed (the reason on stderr); 2 usage error; 130 interrupted.',
];

const LOGOUT = [
  'Usage: kubegate logout [--issuer URL [--client-id ID [--scopes a,b]]] [--cache-dir DIR]',
  '',
  'Remove cached logins of kubegate login: all of them, or only those of an issuer (and client id, and',
  'scopes). The next kubectl command signs you in again. Tokens are not revoked at the identity provider.',
];

const KUBECONFIG = [
  'Usage: kubegate kubeconfig --server URL --issuer URL --client-id ID [flags] [--output FILE | --merge]',
  '',
  "Write a kubeconfig for a kubegate: a cluster (kubegate's URL and CA), a user whose exec credential",
  'plugin is `kubegate login` with the settings below, and a context. Printed on stdout by default.',
  '',
  'Flags:',
  f('--server URL', "kubegate's URL (https)"),
  f('--certificate-authority FILE', "kubegate's CA bundle (default: system roots)"),
  f('--embed-certs', 'embed that CA in the kubeconfig instead of referring to the file'),
  ...LOGIN_SETTING_HELP,
  f('--issuer-certificate-authority FILE', "CA bundle for the issuer (login's --certificate-authority)"),
  f('--cluster-name, --user-name NAME', "entry names (default: the server's host, and <host>-oidc for the user)"),
  f('--context-name NAME', "the context's name (default: the server's host)"),
  f('--namespace NS', "the context's namespace"),
  f('--exec-command CMD', 'the command kubectl runs (default: kubegate, found on PATH)'),
  f('--output FILE', 'write a new kubeconfig file (refuses to overwrite one)'),
  f('--merge', 'add to (or replace same-named entries in) your kubeconfig and switch to the context;'),
  f('', 'the file is --kubeconfig FILE, else the one kubectl would pick from KUBECONFIG, else'),
  f('', '~/.kube/config. Other entries are left as they are.'),
];

const VERSION_HELP = [
  'Usage: kubegate version [-o json]',
  '',
  "Print kubegate's version, the git commit it was built from (when known: KUBEGATE_GIT_COMMIT or the",
  "checkout's .git), the Node.js version and the platform. `kubegate --version` prints only `kubegate <version>`.",
];

const SERVE = [
  'Usage: kubegate serve [--config FILE] [flags]',
  '',
  'Run the proxy: terminate TLS, authenticate the OIDC ID token, and forward to the API server with',
  "kubegate's own credentials, impersonating the person. Settings come from the defaults, then --config FILE,",
  'then KUBEGATE_* environment variables, then flags (later wins). Invalid settings stop start-up, each',
  'named with its flag; `kubegate check-config` checks the same without serving.',
];

const CHECK_CONFIG = [
  'Usage: kubegate check-config [--offline] [--config FILE] [flags]',
  '',
  'Validate the settings serve would use and open what serve opens at start-up: the CA files, the TLS',
  "pair (the key must belong to the certificate), the audit log's directory, the sign-in page's secret",
  'files and the upstream kubeconfig. Every problem is listed at once (exit 1); on success prints what',
  'serve would do and the effective configuration, secrets redacted (exit 0).',
  '',
  `  ${'--offline'.padEnd(37)} validate the settings only: open no file, use no network`,
];

function settingFlags(): string[] {
  const lines = ['Flags (serve, check-config); each also reads KUBEGATE_<FLAG> from the environment, flags win:'];
  lines.push(`  ${'--config FILE'.padEnd(38)}YAML config file with the same settings (see README)  [KUBEGATE_CONFIG]`);
  for (const [name, spec] of Object.entries(FLAGS)) {
    lines.push(`  ${`--${name}`.padEnd(37)} ${spec.help}  [${envNameForFlag(name)}]`);
  }
  return lines;
}

export function usage(command?: string): string {
  if (command === 'sudo') return SUDO.join('\n') + '\n';
  if (command === 'elevations') return ELEVATIONS.join('\n') + '\n';
  if (command === 'revoke') return REVOKE_USAGE.join('\n') + '\n';
  if (command === 'revocations') return REVOCATIONS_USAGE.join('\n') + '\n';
  if (command === 'login') return LOGIN.join('\n') + '\n';
  if (command === 'logout') return LOGOUT.join('\n') + '\n';
  if (command === 'kubeconfig') return KUBECONFIG.join('\n') + '\n';
  if (command === 'version') return VERSION_HELP.join('\n') + '\n';
  if (command === 'serve') return [...SERVE, '', ...settingFlags()].join('\n') + '\n';
  if (command === 'check-config') return [...CHECK_CONFIG, '', ...settingFlags()].join('\n') + '\n';
  const lines = [
    'Usage: kubegate <command> [flags]',
    '',
    'Commands:',
    '  serve          run the proxy',
    '  check-config   validate the configuration and print what serve would do (secrets redacted)',
    '  sudo           hold extra groups for a bounded time, with a reason (break-glass elevation)',
    '  elevations     list, get, approve and revoke elevations',
    '  revoke         deny a user or group (or their older tokens) on every replica, without a restart',
    '  revocations    list, get and delete revocations',
    '  login          sign in through your identity provider; the kubectl exec credential plugin',
    '  logout         forget the cached logins of kubegate login',
    '  kubeconfig     write a kubeconfig that signs in with kubegate login',
    '  version        print the version, git commit and Node.js version',
    '',
    ...settingFlags(),
    '',
    "Run 'kubegate <command> --help' (or 'kubegate help <command>') for a command's flags.",
  ];
  return lines.join('\n') + '\n';
}
