/**
 * The sign-in page's settings as plain data, built once from the validated config (reading the files it
 * names: client secret, cookie key, CA bundles). The page itself never reads config or files.
 *
 * Reads config `loginPage.*`, `oidc.issuerUrl`, `oidc.clientId`, `oidc.caFile`, `oidc.requiredClaims`,
 * `oidc.signingAlgs`.
 */
import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Config } from '../../config/schema.js';
import { KubegateError } from '../../errors/errors.js';

export interface LoginPageSettings {
  /** `oidc.issuerUrl`: where the page signs people in (discovery at `<issuerUrl>/.well-known/openid-configuration`). */
  issuerUrl: string;
  /** `oidc.caFile`'s PEM, trusted for the issuer's TLS; undefined: system roots. */
  issuerCa?: string | undefined;
  /** kubegate's public origin, e.g. `https://kubegate.example.com` (no trailing slash). */
  publicUrl: string;
  /** The page's client id at the identity provider. */
  clientId: string;
  /** The page's client secret; undefined: a public client (PKCE only). */
  clientSecret?: string | undefined;
  clientAuthMethod: 'client_secret_basic' | 'client_secret_post';
  /** Scopes the page asks for (includes `openid`). */
  scopes: readonly string[];
  /** `oidc.requiredClaims`: a token without them is refused by kubegate, so the page says so too. */
  requiredClaims: Readonly<Record<string, string>>;
  /** `oidc.signingAlgs`: a token signed otherwise is refused by kubegate, so the page says so too. */
  signingAlgs: readonly string[];
  /** Lifetime of the flow cookie. */
  flowTimeoutSeconds: number;
  /** 32-byte key sealing the flow cookie; undefined: a random key made when the page is created. */
  cookieKey?: Uint8Array | undefined;
  kubeconfig: KubeconfigSettings;
}

/** What the handed-out kubeconfig contains: no credential, only how to get one with `kubegate login`. */
export interface KubeconfigSettings {
  /** Cluster, user and context name. */
  name: string;
  /** kubegate's public origin (the cluster's `server`). */
  server: string;
  /** PEM of the CA that signs kubegate's serving certificate; undefined: system roots. */
  certificateAuthority?: string | undefined;
  /** The exec plugin: `<command> login --issuer <issuerUrl> --client-id <clientId> --scopes <scopes,…> … <extraArgs…>`. */
  command: string;
  issuerUrl: string;
  /** `oidc.clientId`: the audience kubegate accepts, so the client the CLI must sign in with. */
  clientId: string;
  scopes: readonly string[];
  /** `kubegate login --grant` (unset: the plugin's default, the browser code flow). */
  grant?: 'code' | 'device' | undefined;
  /** `kubegate login --listen-port` (unset: any free port). */
  listenPort?: number | undefined;
  /** `kubegate login --auth-param k=v`, e.g. Google's `access_type=offline`. */
  authParams: Readonly<Record<string, string>>;
  extraArgs: readonly string[];
  /** Shown on the page as the way to install the CLI. */
  installCommand: string;
}

export const COOKIE_KEY_MIN_BYTES = 32;

/**
 * The page's settings from a validated config, or undefined when the page is off.
 * @throws KubegateError CONFIG_INVALID when a file it names cannot be read or is unusable.
 */
export function loginPageSettings(config: Readonly<Config>, readFile: (path: string) => Buffer = readFileSync): LoginPageSettings | undefined {
  const page = config.loginPage;
  if (page === undefined || !page.enabled) return undefined;
  // The schema requires publicUrl when enabled; this only narrows the type.
  if (page.publicUrl === undefined) throw new KubegateError('CONFIG_INVALID', 'loginPage.publicUrl: is required when the sign-in page is enabled');
  const publicUrl = new URL(page.publicUrl).origin;
  // The schema requires the oidc section when enabled (not with --authentication-config); this only narrows the type.
  const oidc = config.oidc;
  if (oidc === undefined) throw new KubegateError('CONFIG_INVALID', 'loginPage.enabled: the sign-in page needs the oidc section');
  const read = (path: string, setting: string): Buffer => {
    try {
      return readFile(path);
    } catch (err) {
      throw new KubegateError('CONFIG_INVALID', `${setting}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  let clientSecret: string | undefined;
  if (page.clientSecretFile !== undefined) {
    clientSecret = read(page.clientSecretFile, 'loginPage.clientSecretFile').toString('utf8').trim();
    if (clientSecret === '') throw new KubegateError('CONFIG_INVALID', `loginPage.clientSecretFile: ${page.clientSecretFile} is empty`);
  }
  let cookieKey: Uint8Array | undefined;
  if (page.cookieKeyFile !== undefined) {
    const material = read(page.cookieKeyFile, 'loginPage.cookieKeyFile');
    if (material.length < COOKIE_KEY_MIN_BYTES) {
      throw new KubegateError('CONFIG_INVALID', `loginPage.cookieKeyFile: ${page.cookieKeyFile} must hold at least ${COOKIE_KEY_MIN_BYTES} bytes, has ${material.length}`);
    }
    cookieKey = deriveCookieKey(material);
  }
  const issuerCa = oidc.caFile === undefined ? undefined : read(oidc.caFile, 'oidc.caFile').toString('utf8');
  const caFile = page.kubeconfig.certificateAuthorityFile;
  const certificateAuthority = caFile === undefined ? undefined : read(caFile, 'loginPage.kubeconfig.certificateAuthorityFile').toString('utf8');
  if (certificateAuthority !== undefined && !certificateAuthority.includes('-----BEGIN CERTIFICATE-----')) {
    throw new KubegateError('CONFIG_INVALID', `loginPage.kubeconfig.certificateAuthorityFile: ${caFile} holds no PEM certificate`);
  }
  return {
    issuerUrl: oidc.issuerUrl,
    issuerCa,
    publicUrl,
    clientId: page.clientId ?? oidc.clientId,
    clientSecret,
    clientAuthMethod: page.clientAuthMethod,
    scopes: page.scopes,
    requiredClaims: oidc.requiredClaims,
    signingAlgs: oidc.signingAlgs,
    flowTimeoutSeconds: page.flowTimeoutSeconds,
    cookieKey,
    kubeconfig: {
      name: page.kubeconfig.name,
      server: publicUrl,
      certificateAuthority,
      command: page.kubeconfig.command,
      issuerUrl: oidc.issuerUrl,
      clientId: oidc.clientId,
      scopes: page.kubeconfig.scopes ?? page.scopes,
      grant: page.kubeconfig.grant,
      listenPort: page.kubeconfig.listenPort,
      authParams: page.kubeconfig.authParams,
      extraArgs: page.kubeconfig.extraArgs,
      installCommand: page.kubeconfig.installCommand,
    },
  };
}

/** Any key file content (raw bytes or text such as base64) → the 32-byte cookie key, by HKDF-SHA256. */
export function deriveCookieKey(material: Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync('sha256', material, new Uint8Array(0), 'kubegate login-page flow cookie v1', 32));
}
