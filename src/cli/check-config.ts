/**
 * `kubegate check-config [--offline] [serve's flags]`: validate everything `serve` would load and print a
 * summary. Besides the settings themselves it opens what serve opens at start-up: the CA bundles, the TLS
 * pair (the key must belong to the certificate), the audit log's directory, the sign-in page's secret files
 * and the upstream kubeconfig (parsed with @kubernetes/client-node: a current context and cluster, https,
 * verified TLS, a credential). Every problem is listed at once. `--offline` opens no file and uses no
 * network: only the settings are validated (for configs whose files live elsewhere, e.g. examples/).
 */
import YAML from 'yaml';
import { effectiveAuthentication } from '../authn/configured.js';
import { loadConfig } from '../config/load.js';
import { configError } from '../config/validate.js';
import { flagForPath } from '../config/flags.js';
import type { Config } from '../config/schema.js';
import { silentLogger } from '../log/logger.js';
import { loadServingCert } from '../server/tls.js';
import { checkAuditPath, checkCaFiles, checkTlsPair } from './file-checks.js';
import { readFileSync } from 'node:fs';

export async function checkConfigCommand(argv: string[]): Promise<number> {
  const offline = argv.includes('--offline');
  const { config, sources } = loadConfig(argv.filter((a) => a !== '--offline'));
  let upstreamLine: string;
  if (offline) {
    upstreamLine = config.upstream.kubeconfig === undefined ? 'in-cluster service account (not checked: --offline)' : `kubeconfig ${config.upstream.kubeconfig} (not opened: --offline)`;
  } else {
    const issues = [...checkCaFiles(config), ...checkTlsPair(config), ...checkAuditPath(config), ...checkSecretFiles(config)];
    if (issues.length === 0) loadServingCert(config.server.tlsCertFile, config.server.tlsPrivateKeyFile);
    try {
      // Loaded here: --offline never opens the kubeconfig, so it need not load @kubernetes/client-node.
      const { loadUpstream } = await import('../upstream/upstream.js');
      const upstream = await loadUpstream({ kubeconfig: config.upstream.kubeconfig, probeAtStart: false }, silentLogger());
      const credential = upstream.authorization();
      upstream.close();
      upstreamLine = `${upstream.target.origin}${upstream.pathPrefix} as kubegate's own ${credential ? `${credential.split(' ')[0]} credential [redacted]` : 'client certificate'}`;
    } catch (err) {
      issues.push(`upstream.kubeconfig (--kubeconfig): ${(err as Error).message}`);
      upstreamLine = '';
    }
    if (issues.length > 0) throw configError(issues);
  }
  // The AuthenticationConfiguration file is settings, so it is read even offline; the OIDC CA file is not.
  const authn = effectiveAuthentication(offline && config.oidc?.caFile !== undefined ? { ...config, oidc: { ...config.oidc, caFile: undefined } } : config);
  const o = config.oidc ?? { issuerUrl: '', clientId: '', signingAlgs: [], usernameClaim: '', usernamePrefix: '-', groupsClaim: undefined, groupsPrefix: '' };
  const prefix = o.usernamePrefix === '-' ? '(none)' : (o.usernamePrefix ?? (o.usernameClaim === 'email' ? '(none)' : `${o.issuerUrl}#`));
  const summary = [
    `configuration OK (from ${sources.join(', ')})${offline ? ' — offline: settings only, no file opened, no network used' : ''}`,
    `listen:    https://${config.server.bindAddress}:${config.server.securePort} (TLS >= 1.2, cert ${config.server.tlsCertFile}, reloaded on change)`,
    ...(config.oidc === undefined
      ? [`authn:     ${authn.document.jwt.length} issuer(s) from ${authn.source}: ${authn.document.jwt.map((j) => j.issuer.url).join(', ')}`]
      : [
          `oidc:      issuer ${o.issuerUrl}, audience ${o.clientId}, algorithms ${o.signingAlgs.join(',')}`,
          `username:  claim ${o.usernameClaim}, prefix ${prefix}`,
          `groups:    ${o.groupsClaim ? `claim ${o.groupsClaim}, prefix ${o.groupsPrefix || '(none)'}` : '(no groups claim)'}`,
        ]),
    `system:    names starting with system: are ${config.identity.allowSystemNames ? 'ALLOWED' : 'refused'}`,
    `upstream:  ${upstreamLine}`,
    `audit:     ${config.audit.logPath === '-' ? 'stdout' : config.audit.logPath}`,
    '',
    `# effective AuthenticationConfiguration (from ${authn.source})`,
    YAML.stringify(authn.document).trimEnd(),
    '',
    '# effective configuration',
    YAML.stringify(config).trimEnd(),
  ];
  process.stdout.write(summary.join('\n') + '\n');
  return 0;
}

/** The sign-in page's secret files: readable (their content is never printed). */
function checkSecretFiles(config: Readonly<Config>): string[] {
  const issues: string[] = [];
  for (const [setting, file] of [['loginPage.clientSecretFile', config.loginPage?.clientSecretFile], ['loginPage.cookieKeyFile', config.loginPage?.cookieKeyFile]] as const) {
    if (file === undefined) continue;
    try {
      readFileSync(file);
    } catch (err) {
      const flag = flagForPath(setting);
      issues.push(`${setting}${flag ? ` (${flag})` : ''}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  return issues;
}
