/**
 * The OIDC ID-token authenticator: discovery with openid-client, then signature and claim checks with jose
 * against the issuer's key set (key-set.ts: the last good JWKS, refreshed in the background and on unknown
 * `kid`s under one per-issuer rate limit, kept through outages), then claims → user with identity/claims.
 * Verified identities are cached by a hash of the token (token-cache.ts) until `exp`.
 *
 * Reads config `oidc.*` and `identity.allowSystemNames`.
 */
import * as client from 'openid-client';
import * as jose from 'jose';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import { mapClaims, type ClaimMapping } from '../identity/claims.js';
import type { UserInfo } from '../identity/user.js';
import type { Authenticated, Authenticator, SessionFacts } from './authenticator.js';
import type { Metrics } from '../metrics/metrics.js';
import { describeIssuerError, fetchTrusting } from './fetch.js';
import { createIssuerKeySet, type IssuerKeySet } from './key-set.js';
import { createTokenCache } from './token-cache.js';

export interface OidcSettings {
  issuerUrl: string;
  clientId: string;
  /** PEM bundle trusted for the issuer's TLS; undefined: system roots. */
  ca?: string | undefined;
  signingAlgs: readonly string[];
  requiredClaims: Readonly<Record<string, string>>;
  clockSkewSeconds: number;
  mapping: ClaimMapping;
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

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

/** Start discovery in the background and return the authenticator at once; `ready()` tells when it can verify. */
export function createOidcAuthenticator(s: OidcSettings, log: Logger): Authenticator {
  const customFetch = fetchTrusting(s.ca);
  const cache = createTokenCache<Authenticated>(s.cacheMaxEntries ?? 10_000);
  const cacheMaxMs = (s.cacheMaxSeconds ?? 600) * 1000;
  let keySet: IssuerKeySet | undefined;
  let discoveryError: string | undefined;
  let closed = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));

  const discover = async (): Promise<void> => {
    try {
      const config = await client.discovery(new URL(s.issuerUrl), s.clientId, undefined, undefined, {
        [client.customFetch]: customFetch,
        timeout: 10,
      });
      const jwksUri = config.serverMetadata().jwks_uri;
      if (!jwksUri) throw new Error('discovery document has no jwks_uri');
      if (closed) return;
      // From here on the key set loads and refreshes itself (with its own retries and backoff).
      discoveryError = undefined;
      keySet = createIssuerKeySet({
        jwksUri,
        issuer: s.issuerUrl,
        fetch: customFetch,
        log,
        minRefetchIntervalMs: s.jwksMinRefetchIntervalMs,
        maxBackoffMs: s.jwksMaxBackoffMs,
        cacheMaxAgeMs: s.jwksCacheMaxAgeMs,
        fetchTimeoutMs: s.jwksFetchTimeoutMs,
        onFetch: (ok) => s.metrics?.jwksFetches.inc({ result: ok ? 'ok' : 'error' }),
      });
      void keySet.whenReady().then(markReady);
      log.info('oidc discovery done; loading the issuer keys', { issuer: s.issuerUrl, jwksUri });
    } catch (err) {
      if (closed) return;
      discoveryError = `discovery failed: ${describeIssuerError(err, s.issuerUrl)}`;
      log.warn('oidc discovery failed; retrying', { issuer: s.issuerUrl, error: describeIssuerError(err, s.issuerUrl) });
      retryTimer = setTimeout(() => void discover(), (s.retrySeconds ?? 5) * 1000);
      retryTimer.unref();
    }
  };
  void discover();

  const verify = async (token: string): Promise<jose.JWTPayload> => {
    if (keySet === undefined) {
      throw new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', 'the issuer\'s keys are not loaded yet', { details: { issuer: s.issuerUrl } });
    }
    try {
      // The key set answers 503 itself when no keys were ever loaded, and refetches on an unknown kid.
      const { payload } = await jose.jwtVerify(token, keySet.getKey, {
        issuer: s.issuerUrl,
        audience: s.clientId,
        algorithms: [...s.signingAlgs],
        clockTolerance: s.clockSkewSeconds,
        requiredClaims: ['exp', 'iss', 'aud'],
      });
      if (typeof payload.iat === 'number' && payload.iat > Date.now() / 1000 + s.clockSkewSeconds) {
        throw new KubegateError('AUTHN_INVALID_TOKEN', 'token rejected: iat is in the future', { details: { claim: 'iat' } });
      }
      return payload;
    } catch (err) {
      if (err instanceof KubegateError) throw err;
      throw translateJoseError(err);
    }
  };

  return {
    async authenticate(token) {
      // Shape first: the cache key decodes the signature segment, so only well-formed tokens reach it.
      if (!JWT_SHAPE.test(token)) throw new KubegateError('AUTHN_INVALID_TOKEN', 'bearer token is not a JWT');
      const now = Date.now();
      const cached = cache.get(token, now);
      s.metrics?.tokenCache.inc({ result: cached === undefined ? 'miss' : 'hit' });
      if (cached !== undefined) return cached;
      const claims = await verify(token);
      for (const [name, want] of Object.entries(s.requiredClaims)) {
        if (claims[name] !== want) {
          throw new KubegateError('AUTHN_CLAIMS', `required claim ${JSON.stringify(name)} is missing or has another value`, {
            details: { claim: name },
          });
        }
      }
      const verified: Authenticated = Object.freeze({ user: mapClaims(claims, s.mapping), session: sessionFacts(claims) });
      cache.set(token, verified, Math.min((claims.exp as number) * 1000, now + cacheMaxMs));
      return verified;
    },
    ready: () => keySet?.ready() ?? false,
    whenReady: () => readyPromise,
    keyStatus: () => keySet?.status() ?? { ready: false, stale: false, ...(discoveryError !== undefined && { lastError: discoveryError }) },
    close() {
      closed = true;
      if (retryTimer) clearTimeout(retryTimer);
      keySet?.close();
    },
  };
}

/** `amr`, `acr`, `auth_time`, `iss`, `iat`, `exp` as given; malformed values count as absent (a policy needing them refuses). */
function sessionFacts(claims: jose.JWTPayload): SessionFacts {
  const facts: SessionFacts = { amr: Array.isArray(claims.amr) ? claims.amr.filter((m): m is string => typeof m === 'string') : [] };
  const time = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
  if (typeof claims.acr === 'string') facts.acr = claims.acr;
  if (time(claims.auth_time) !== undefined) facts.authTime = time(claims.auth_time)!;
  if (typeof claims.iss === 'string') facts.issuer = claims.iss;
  if (time(claims.iat) !== undefined) facts.issuedAt = time(claims.iat)!;
  if (time(claims.exp) !== undefined) facts.expiresAt = time(claims.exp)!;
  return facts;
}

/** jose errors → AUTHN_INVALID_TOKEN with the jose code kept for the log (never the token). */
function translateJoseError(err: unknown): KubegateError {
  if (err instanceof jose.errors.JOSEError) {
    const details: Record<string, string> = { joseCode: err.code };
    if (err instanceof jose.errors.JWTClaimValidationFailed || err instanceof jose.errors.JWTExpired) {
      details.claim = err.claim;
      details.reason = err.reason;
    }
    if (err instanceof jose.errors.JWKSTimeout || err instanceof jose.errors.JWKSInvalid) {
      return new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', `issuer key set unavailable: ${err.code}`, { cause: err, details });
    }
    return new KubegateError('AUTHN_INVALID_TOKEN', `token rejected: ${err.message}`, { cause: err, details });
  }
  return new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', 'token verification failed unexpectedly', { cause: err });
}
