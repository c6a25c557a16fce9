import { FLAGS, envNameForFlag } from '../config/flags.js';

export function usage(command?: string): string {
  const lines = [
    'Usage: kubegate <command> [flags]',
    '',
    'Commands:',
    '  serve          run the proxy',
    '  check-config   validate the configuration and print what serve would do (secrets redacted)',
    '',
  ];
  if (command === undefined || command === 'serve' || command === 'check-config') {
    lines.push('Flags (serve, check-config); each also reads KUBEGATE_<FLAG> from the environment, flags win:');
    lines.push('  --config FILE                  YAML config file (same settings; see README)');
    for (const [name, spec] of Object.entries(FLAGS)) {
      lines.push(`  --${name.padEnd(29)}${spec.help}  [${envNameForFlag(name)}]`);
    }
  }
  return lines.join('\n') + '\n';
}
