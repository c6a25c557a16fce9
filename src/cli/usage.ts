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
    lines.push(`  ${'--config FILE'.padEnd(38)}YAML config file with the same settings (see README)  [KUBEGATE_CONFIG]`);
    for (const [name, spec] of Object.entries(FLAGS)) {
      lines.push(`  ${`--${name}`.padEnd(37)} ${spec.help}  [${envNameForFlag(name)}]`);
    }
  }
  return lines.join('\n') + '\n';
}
