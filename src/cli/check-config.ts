import YAML from 'yaml';
import { effectiveAuthentication } from '../authn/configured.js';
import { loadConfig } from '../config/load.js';
import { silentLogger } from '../log/logger.js';
import { loadUpstream } from '../upstream/upstream.js';
import { loadServingCert } from '../server/tls.js';

/** Validate everything serve would load (config, serving cert, upstream kubeconfig) and print a summary. */
export async function checkConfigCommand(argv: string[]): Promise<number> {
  const { config, sources } = loadConfig(argv);
  loadServingCert(config.server.tlsCertFile, config.server.tlsPrivateKeyFile);
  const upstream = await loadUpstream({ kubeconfig: config.upstream.kubeconfig }, silentLogger());
  const credential = upstream.authorization();
  upstream.close();
  const authn = effectiveAuthentication(config); // throws CONFIG_INVALID naming every problem of the file
  const o = config.oidc ?? { issuerUrl: '', clientId: '', signingAlgs: [], usernameClaim: '', usernamePrefix: '-', groupsClaim: undefined, groupsPrefix: '' };
  const prefix = o.usernamePrefix === '-' ? '(none)' : (o.usernamePrefix ?? (o.usernameClaim === 'email' ? '(none)' : `${o.issuerUrl}#`));
  const summary = [
    `configuration OK (from ${sources.join(', ')})`,
    `listen:    https://${config.server.bindAddress}:${config.server.securePort} (TLS >= 1.2, cert ${config.server.tlsCertFile}, reloaded on change)`,
    ...(config.oidc === undefined
      ? [`authn:     ${authn.document.jwt.length} issuer(s) from ${authn.source}: ${authn.document.jwt.map((j) => j.issuer.url).join(', ')}`]
      : [
          `oidc:      issuer ${o.issuerUrl}, audience ${o.clientId}, algorithms ${o.signingAlgs.join(',')}`,
          `username:  claim ${o.usernameClaim}, prefix ${prefix}`,
          `groups:    ${o.groupsClaim ? `claim ${o.groupsClaim}, prefix ${o.groupsPrefix || '(none)'}` : '(no groups claim)'}`,
        ]),
    `system:    names starting with system: are ${config.identity.allowSystemNames ? 'ALLOWED' : 'refused'}`,
    `upstream:  ${upstream.target.origin}${upstream.pathPrefix} as kubegate's own ${credential ? `${credential.split(' ')[0]} credential [redacted]` : 'client certificate'}`,
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
