/**
 * The `--oidc-*` (one issuer) authenticator: kube-apiserver-style settings turned into the equivalent
 * AuthenticationConfiguration (auth-config.ts) and served by the same JWT authenticator as
 * `--authentication-config` (jwt.ts): discovery, the issuer's key set (key-set.ts), claim rules and
 * mappings (identity/structured.ts), the verified-token cache.
 *
 * Reads config `oidc.*` and `identity.allowSystemNames` (through server.ts / authn/configured.ts).
 */
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import type { Metrics } from '../metrics/metrics.js';
import { authenticationConfigurationFromOidc, resolveAuthenticationConfiguration, type OidcSection } from './auth-config.js';
import type { Authenticator } from './authenticator.js';
import { createJwtAuthenticator } from './jwt.js';

/** The `oidc:` section's settings (claims, prefixes, required claims), plus what the section names by file or flag. */
export interface OidcSettings extends OidcSection {
  /** PEM bundle trusted for the issuer's TLS; undefined: system roots. */
  ca?: string | undefined;
  signingAlgs: readonly string[];
  clockSkewSeconds: number;
  /** `identity.allowSystemNames`: mapped names may start with `system:`. */
  allowSystemNames: boolean;
  /** Upper bound on how long a verified token stays cached (default 10 min), so key revocation takes effect. */
  cacheMaxSeconds?: number;
  cacheMaxEntries?: number;
  /** Delay between discovery retries while the issuer is unreachable (default 5 s). */
  retrySeconds?: number;
  /**
   * Least gap between two key-set fetches (default 2 s); a token with an unknown `kid` arriving within it
   * after a successful fetch waits for one coalesced fetch at its end. Doubles per consecutive failure.
   */
  jwksMinRefetchIntervalMs?: number;
  /** Upper bound of that gap while fetches keep failing (default 60 s). */
  jwksMaxBackoffMs?: number;
  /** Background key-set refresh period (default 10 min); keys are kept, not dropped, when it fails. */
  jwksCacheMaxAgeMs?: number;
  /** Timeout of one key-set fetch (default 5 s). */
  jwksFetchTimeoutMs?: number;
  /** Counters for token-cache lookups and key-set fetches. */
  metrics?: Pick<Metrics, 'tokenCache' | 'jwksFetches'> | undefined;
}

/**
 * Start discovery in the background and return the authenticator at once; `ready()` tells when it can verify.
 * @throws KubegateError CONFIG_INVALID when the settings make no valid configuration (schema-validated settings do).
 */
export function createOidcAuthenticator(s: OidcSettings, log: Logger): Authenticator {
  const doc = authenticationConfigurationFromOidc(s, s.ca);
  const resolved = resolveAuthenticationConfiguration(doc, {
    allowSystemNames: s.allowSystemNames,
    signingAlgs: s.signingAlgs,
    clockSkewSeconds: s.clockSkewSeconds,
    legacyExtraKeys: true,
  });
  if (!resolved.ok) throw new KubegateError('CONFIG_INVALID', `oidc settings make no valid configuration: ${resolved.issues.join('; ')}`);
  return createJwtAuthenticator(resolved.issuers, {
    log,
    cacheMaxSeconds: s.cacheMaxSeconds,
    cacheMaxEntries: s.cacheMaxEntries,
    retrySeconds: s.retrySeconds,
    jwksMinRefetchIntervalMs: s.jwksMinRefetchIntervalMs,
    jwksMaxBackoffMs: s.jwksMaxBackoffMs,
    jwksCacheMaxAgeMs: s.jwksCacheMaxAgeMs,
    jwksFetchTimeoutMs: s.jwksFetchTimeoutMs,
    metrics: s.metrics,
  });
}
