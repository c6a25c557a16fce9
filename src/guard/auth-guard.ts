/**
 * Stage 3's policies around the authenticator: failed-authentication rate limiting (per client address
 * and per token fingerprint), service-account tokens named as such, and the token policies (lifetime,
 * MFA). The pipeline calls {@link AuthGuard.authenticate} instead of the authenticator directly.
 *
 * What counts as a failure: a 401 after a credential was presented (a malformed Authorization header, a
 * token that fails verification or the lifetime policy). Not counted: no credential at all, the identity
 * provider being unavailable (503), a 403 (MFA, reserved names). Successful authentications never touch
 * the limiter, so a person's traffic is never slowed by someone else's failures from the same address:
 * - a token whose own bucket is empty is answered 429 without being verified again;
 * - from an address whose bucket is empty, a token is still verified: valid, it passes; invalid, 429.
 */
import type { Authenticated, Authenticator } from '../authn/authenticator.js';
import { tokenCacheKey } from '../authn/token-cache.js';
import { asKubegateError, KubegateError } from '../errors/errors.js';
import type { SecurityConfig } from '../config/schema.js';
import { addressKey } from './client-address.js';
import { createFailureLimiter, type FailureLimiter } from './failure-limiter.js';
import type { ServiceAccountReviewer } from './service-accounts.js';
import { checkMfa, checkTokenLifetime, looksLikeServiceAccountToken, serviceAccountRefusal, type TokenPolicy } from './token-policy.js';

export interface AuthGuardMetrics {
  /** Refusals with 429, by what was throttled (`address`, `token`). */
  throttled(by: 'address' | 'token'): void;
}

export interface AuthGuard {
  /**
   * Authenticate the credential `credential()` yields (it throws the bearer-parsing errors) for a client
   * at `address`, under the rate limits and token policies.
   * @throws KubegateError AUTHN_THROTTLED (429), AUTHN_SERVICE_ACCOUNT_TOKEN, AUTHN_TOKEN_LIFETIME (401),
   *   MFA_REQUIRED (403), or whatever the authenticator throws.
   */
  authenticate(authenticator: Authenticator, credential: () => string, address: string): Promise<Authenticated>;
  /** Keys the limiter tracks now (0 when limiting is off). */
  trackedKeys(): number;
}

export interface AuthGuardOptions {
  metrics?: AuthGuardMetrics;
  /** Clock for the limiter (ms). */
  now?: () => number;
  /** Keep this limiter's state (a reload that did not change the limits). */
  limiter?: FailureLimiter | undefined;
  /** `security.serviceAccountPassthrough`: service-account tokens checked by TokenReview instead of refused. */
  serviceAccounts?: ServiceAccountReviewer | undefined;
}

export function tokenPolicyOf(s: SecurityConfig): TokenPolicy {
  return { maxTokenLifetimeSeconds: s.maxTokenLifetime, requiredAmr: s.requiredAmr, requiredAcr: s.requiredAcr };
}

export function createAuthGuard(s: SecurityConfig, opts: AuthGuardOptions = {}): AuthGuard & { limiter: FailureLimiter | undefined } {
  const l = s.authFailureLimit;
  const limiter = !l.enabled ? undefined : (opts.limiter ?? createFailureLimiter({ perMinute: l.perMinute, burst: l.burst, maxKeys: l.maxTrackedKeys, ...(opts.now && { now: opts.now }) }));
  const policy = tokenPolicyOf(s);
  const throttled = (by: 'address' | 'token', retryAfterSeconds: number, why: string, cause?: KubegateError) => {
    opts.metrics?.throttled(by);
    return new KubegateError('AUTHN_THROTTLED', `too many failed authentications ${why}${cause ? `; this one: ${cause.message}` : ''}`, {
      retryAfterSeconds,
      ...(cause && { cause }),
      details: { throttledBy: by, ...(cause && { failedCode: cause.code }) },
    });
  };
  return {
    limiter,
    trackedKeys: () => limiter?.size() ?? 0,
    async authenticate(authenticator, credential, address) {
      let tokenKey: string | undefined;
      const fail = (err: KubegateError): KubegateError => {
        if (limiter === undefined || err.status !== 401 || err.code === 'AUTHN_MISSING_TOKEN') return err;
        // Only a failure needs the address's key (an IPv6 address's /64 costs ~1.7 µs to work out).
        const addrKey = `addr ${addressKey(address)}`;
        const before = limiter.check(addrKey);
        limiter.fail(addrKey);
        if (tokenKey !== undefined) limiter.fail(tokenKey);
        return before.throttled ? throttled('address', before.retryAfterSeconds, `from ${address}`, err) : err;
      };
      let token: string;
      try {
        token = credential();
      } catch (err) {
        throw fail(asKubegateError(err));
      }
      // The token's one hash per request: the limiter's key, the verified-token cache's key, the
      // service-account cache's key (every spelling of a JWS signature is one fingerprint, so one bucket).
      const fingerprint = tokenCacheKey(token);
      if (limiter !== undefined) {
        tokenKey = `token ${fingerprint.slice(0, 32)}`;
        const verdict = limiter.check(tokenKey);
        if (verdict.throttled) throw throttled('token', verdict.retryAfterSeconds, 'with this token (not verified again)');
      }
      let authenticated: Authenticated;
      try {
        // With the passthrough on, a service-account token goes to the API server's TokenReview (the peek
        // only routes it: the review decides), never to the OIDC verifier.
        const serviceAccount = opts.serviceAccounts !== undefined && looksLikeServiceAccountToken(token);
        authenticated = serviceAccount ? await opts.serviceAccounts!.authenticate(token, fingerprint) : await authenticator.authenticate(token, fingerprint);
        checkTokenLifetime(authenticated.session, policy.maxTokenLifetimeSeconds);
      } catch (thrown) {
        let err = asKubegateError(thrown);
        if (err.code === 'AUTHN_INVALID_TOKEN' && opts.serviceAccounts === undefined && looksLikeServiceAccountToken(token)) err = serviceAccountRefusal(err);
        throw fail(err);
      }
      // MFA last: a 403 about how the person logged in, not a failed authentication.
      checkMfa(authenticated.session, policy);
      return authenticated;
    },
  };
}
