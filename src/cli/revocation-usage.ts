/** Help text of `kubegate revoke` and `kubegate revocations` (usage.ts shows it). */
const CLIENT_FLAG_HELP = [
  `  ${'--kubeconfig FILE'.padEnd(26)}the kubeconfig to use (default: the KUBECONFIG list, then ~/.kube/config)`,
  `  ${'--context NAME'.padEnd(26)}the kubeconfig context (default: its current-context); its server must be a kubegate`,
];

export const REVOKE_USAGE = [
  'Usage: kubegate revoke (--user NAME | --group NAME) [--issued-before TIME] --reason TEXT [flags]',
  '',
  'Deny a person or a group on every kubegate replica, without a restart: their next request is refused (401),',
  'their open watches and exec sessions are closed, and a user\'s elevation grants end. Names are as kubegate',
  'maps them (what kubectl auth whoami shows). Only revocation.admins may revoke. Undo: kubegate revocations delete ID.',
  '',
  'Flags:',
  `  ${'--user NAME'.padEnd(26)}the username to deny`,
  `  ${'--group NAME'.padEnd(26)}the group to deny (everyone whose token maps to it)`,
  `  ${'--issued-before TIME'.padEnd(26)}only refuse tokens issued before TIME (RFC 3339, or now): a fresh login works`,
  `  ${'--reason TEXT'.padEnd(26)}why (required; the person sees it when refused)`,
  `  ${'-o, --output json'.padEnd(26)}print the answer as JSON`,
  ...CLIENT_FLAG_HELP,
  '',
  'Exit status: 0 revoked; 1 refused or failed (the reason on stderr); 2 usage error.',
];

export const REVOCATIONS_USAGE = [
  'Usage: kubegate revocations <list | get ID | delete ID> [flags]',
  '',
  'Subcommands (revocation.admins only):',
  `  ${'list'.padEnd(26)}the revocations in force: ID, SUBJECT, TOKENS, CREATED, BY, REASON`,
  `  ${'get ID'.padEnd(26)}one revocation in detail`,
  `  ${'delete ID'.padEnd(26)}lift a revocation: the next request is accepted again`,
  '',
  'Flags:',
  `  ${'-o, --output json'.padEnd(26)}print the answer as JSON`,
  ...CLIENT_FLAG_HELP,
  '',
  'Exit status: 0 done; 1 refused or failed (the reason on stderr); 2 usage error.',
];
