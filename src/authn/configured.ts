/**
 * The authenticator a kubegate configuration asks for, from either source: the `oidc:` section /
 * `--oidc-*` flags (one issuer) or `authentication.configFile` / `--authentication-config` (a Kubernetes
 * AuthenticationConfiguration). Both become the same resolved issuers (auth-config.ts) and the same
 * JWT authenticator (jwt.ts).
 *
 * The returned authenticator stays the same object for the life of the server and swaps what it
 * delegates to:
 * - `update(config)` after a configuration reload, and by itself when the AuthenticationConfiguration
 *   file changes (polled with config/watch.ts, which also sees ConfigMap symlink swaps);
 * - a new valid configuration builds a new authenticator (new discovery, key sets, empty token cache)
 *   that takes over once every issuer's keys are loaded, or after `swapTimeoutMs` (30 s) once at least
 *   one issuer's are, so an issuer that is down cannot hold a reload back forever; until then the
 *   current one keeps serving;
 * - an invalid new file is refused: logged with every problem, the current authenticator kept.
 */
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { Config } from '../config/schema.js';
import { watchConfigFile, type FileWatch } from '../config/watch.js';
import { KubegateError } from '../errors/errors.js';
import {
  authenticationConfigurationFromOidc,
  parseAuthenticationConfiguration,
  resolveAuthenticationConfiguration,
  type AuthenticationConfigurationDoc,
  type JwtIssuerSettings,
} from './auth-config.js';
import type { Authenticator } from './authenticator.js';
import { createJwtAuthenticator, type JwtAuthenticator, type JwtAuthenticatorOptions } from './jwt.js';

/** The settings this module reads. */
export type AuthenticationSettings = Pick<Readonly<Config>, 'oidc' | 'authentication' | 'identity'>;

export type ReadFile = (path: string) => string;
const readUtf8: ReadFile = (path) => readFileSync(path, 'utf8');

export interface EffectiveAuthentication {
  /** Where it came from: `oidc` (the section or flags) or the file's path. */
  source: string;
  /** The AuthenticationConfiguration in force, as Kubernetes spells it (for check-config and docs). */
  document: AuthenticationConfigurationDoc;
}

/**
 * The effective AuthenticationConfiguration of a configuration (what `kubegate check-config` prints):
 * the file's document as written, or the one the `oidc:` settings are equivalent to. Reads only through
 * `readFile` (the CA file or the configuration file).
 * @throws KubegateError CONFIG_INVALID when a file cannot be read or the document is not valid.
 */
export function effectiveAuthentication(config: AuthenticationSettings, readFile: ReadFile = readUtf8): EffectiveAuthentication {
  return load(config, readFile).effective;
}

/** Read and resolve the issuers of a configuration. @throws KubegateError CONFIG_INVALID listing every problem. */
export function loadIssuers(config: AuthenticationSettings, readFile: ReadFile = readUtf8): readonly JwtIssuerSettings[] {
  return load(config, readFile).issuers;
}

function load(config: AuthenticationSettings, readFile: ReadFile): { issuers: readonly JwtIssuerSettings[]; effective: EffectiveAuthentication } {
  const read = (path: string, setting: string) => {
    try {
      return readFile(path);
    } catch (err) {
      throw new KubegateError('CONFIG_INVALID', `${setting}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
    }
  };
  const allowSystemNames = config.identity.allowSystemNames;
  const file = config.authentication.configFile;
  if (file !== undefined) {
    const text = read(file, 'authentication.configFile');
    const result = parseAuthenticationConfiguration(text, { allowSystemNames });
    if (!result.ok) throw invalidFile(file, result.issues);
    const issuers = result.issuers.map((issuer, i) => ({ ...issuer, urlSetting: `jwt[${i}].issuer.url in ${file}` }));
    return { issuers, effective: { source: file, document: documentOf(text) } };
  }
  const o = config.oidc;
  if (o === undefined) throw new KubegateError('CONFIG_INVALID', 'oidc.issuerUrl (--oidc-issuer-url) or authentication.configFile (--authentication-config) is required');
  const ca = o.caFile === undefined ? undefined : read(o.caFile, 'oidc.caFile');
  const document = authenticationConfigurationFromOidc(o, ca);
  const result = resolveAuthenticationConfiguration(document, { allowSystemNames, signingAlgs: o.signingAlgs, clockSkewSeconds: o.clockSkewSeconds, legacyExtraKeys: true });
  if (!result.ok) throw new KubegateError('CONFIG_INVALID', `oidc: ${result.issues.join('; ')}`);
  const issuers = result.issuers.map((issuer) => ({ ...issuer, urlSetting: '--oidc-issuer-url', certificateAuthorityFile: o.caFile }));
  return { issuers, effective: { source: 'oidc', document } };
}

/** The file's document as written (already validated). */
const documentOf = (text: string) => YAML.parse(text) as AuthenticationConfigurationDoc;

function invalidFile(path: string, issues: string[]): KubegateError {
  return new KubegateError('CONFIG_INVALID', `authentication.configFile ${path} is not a valid AuthenticationConfiguration:\n  - ${issues.join('\n  - ')}`, {
    details: { issues: issues.length },
  });
}

export interface ConfiguredAuthenticator extends Authenticator {
  /**
   * Apply a reloaded configuration (called when `oidc`, `identity` or `authentication` changed).
   * @returns false when the new settings were refused (logged; the current authenticator is kept).
   */
  update(config: AuthenticationSettings): boolean;
}

export interface ConfiguredOptions extends JwtAuthenticatorOptions {
  readFile?: ReadFile;
  /** How often the AuthenticationConfiguration file is checked for changes (default 1 s). */
  watchIntervalMs?: number;
  /** Longest wait for every issuer of a new configuration before it takes over with those loaded (default 30 s). */
  swapTimeoutMs?: number;
}

/**
 * Build the authenticator for `config`, watching its AuthenticationConfiguration file if it has one.
 * @throws KubegateError CONFIG_INVALID at start-up when the configuration or its file is not valid.
 */
export function createConfiguredAuthenticator(config: AuthenticationSettings, o: ConfiguredOptions): ConfiguredAuthenticator {
  const { log } = o;
  const readFile = o.readFile ?? readUtf8;
  const build = (c: AuthenticationSettings): JwtAuthenticator => createJwtAuthenticator(loadIssuers(c, readFile), o);
  let current = build(config);
  let settings = config;
  let pending: JwtAuthenticator | undefined;
  let closed = false;
  let watch: FileWatch | undefined;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));
  void current.whenReady().then(markReady);

  const swapIn = (next: JwtAuthenticator, source: string) => {
    pending?.close();
    pending = next;
    let timer: NodeJS.Timeout | undefined;
    const anyReadyAfterTimeout = new Promise<void>((resolve) => {
      timer = setTimeout(() => void next.whenReady().then(resolve), o.swapTimeoutMs ?? 30_000);
      timer.unref();
    });
    void Promise.race([next.whenAllReady(), anyReadyAfterTimeout]).then(() => {
      clearTimeout(timer);
      if (closed || pending !== next) return;
      pending = undefined;
      const previous = current;
      current = next;
      markReady();
      previous.close();
      const status = next.keyStatus();
      log.info('authentication configuration reloaded: new identity settings in force', {
        source,
        issuers: status.issuers ? Object.keys(status.issuers) : undefined,
        ...(status.lastError !== undefined && { notLoaded: status.lastError }),
      });
    });
  };

  const apply = (c: AuthenticationSettings, why: string): boolean => {
    let next: JwtAuthenticator;
    try {
      next = build(c);
    } catch (err) {
      log.error('authentication configuration refused; the current one stays in force', { reason: why, error: (err as Error).message });
      return false;
    }
    settings = c;
    swapIn(next, c.authentication.configFile ?? 'oidc');
    return true;
  };

  const watchFile = (path: string | undefined) => {
    watch?.stop();
    watch = path === undefined ? undefined : watchConfigFile(path, () => {
      if (!closed) apply(settings, `${path} changed`);
    }, o.watchIntervalMs);
  };
  watchFile(config.authentication.configFile);

  return {
    authenticate: (token, fingerprint) => current.authenticate(token, fingerprint),
    ready: () => current.ready(),
    whenReady: () => readyPromise,
    keyStatus: () => current.keyStatus(),
    update(c) {
      const ok = apply(c, 'configuration reloaded');
      if (ok) watchFile(c.authentication.configFile);
      return ok;
    },
    close() {
      closed = true;
      watch?.stop();
      pending?.close();
      current.close();
    },
  };
}
