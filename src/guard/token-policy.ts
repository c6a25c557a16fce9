/**
 * Policies every authenticated request must meet, judged from the verified token's session facts
 * (identity/user.ts SessionFacts), never from the token itself:
 * - `security.maxTokenLifetime`: `exp - iat` at most this; a token without `iat` is refused when it is set;
 * - `security.requiredAmr` / `requiredAcr`: the login used one of these methods / context classes
 *   (either list satisfied is enough when both are set, as elevation's `mfa` rule reads them).
 *
 * And one recognition on the FAILURE path only: a Kubernetes service-account token is told apart from a
 * bad OIDC token by an unverified peek at its claims, for the refusal message and nothing else.
 */
import { decodeJwt } from 'jose';
import { KubegateError } from '../errors/errors.js';
import type { SessionFacts } from '../identity/user.js';

export interface TokenPolicy {
  /** Seconds; 0: off. */
  maxTokenLifetimeSeconds: number;
  requiredAmr: readonly string[];
  requiredAcr: readonly string[];
}

/**
 * @throws KubegateError AUTHN_TOKEN_LIFETIME (401) or MFA_REQUIRED (403).
 */
export function checkTokenPolicy(session: SessionFacts, policy: TokenPolicy): void {
  checkTokenLifetime(session, policy.maxTokenLifetimeSeconds);
  checkMfa(session, policy);
}

/** @throws KubegateError AUTHN_TOKEN_LIFETIME (401) when `max` > 0 and `exp - iat` exceeds it or `iat` is absent. */
export function checkTokenLifetime(session: SessionFacts, max: number): void {
  if (max > 0) {
    if (session.issuedAt === undefined) {
      throw new KubegateError('AUTHN_TOKEN_LIFETIME', `token has no iat claim, required by security.maxTokenLifetime (${max}s)`, { details: { claim: 'iat', maxLifetimeSeconds: max } });
    }
    if (session.expiresAt === undefined || session.expiresAt - session.issuedAt > max) {
      const lifetime = session.expiresAt === undefined ? 'unbounded' : `${session.expiresAt - session.issuedAt}s`;
      throw new KubegateError('AUTHN_TOKEN_LIFETIME', `token lifetime ${lifetime} (exp - iat) exceeds security.maxTokenLifetime ${max}s`, {
        details: { maxLifetimeSeconds: max, ...(session.expiresAt !== undefined && { lifetimeSeconds: session.expiresAt - session.issuedAt }) },
      });
    }
  }
}

/** @throws KubegateError MFA_REQUIRED (403) when required amr/acr values are set and none is met. */
export function checkMfa(session: SessionFacts, policy: Pick<TokenPolicy, 'requiredAmr' | 'requiredAcr'>): void {
  const { requiredAmr, requiredAcr } = policy;
  if (requiredAmr.length + requiredAcr.length === 0) return;
  const amrOk = requiredAmr.length > 0 && session.amr.some((m) => requiredAmr.includes(m));
  const acrOk = requiredAcr.length > 0 && session.acr !== undefined && requiredAcr.includes(session.acr);
  if (!amrOk && !acrOk) {
    const wanted = [requiredAmr.length > 0 && `amr one of [${requiredAmr.join(', ')}]`, requiredAcr.length > 0 && `acr one of [${requiredAcr.join(', ')}]`].filter(Boolean).join(' or ');
    throw new KubegateError('MFA_REQUIRED', `login does not meet the MFA requirement: want ${wanted}, token has amr [${session.amr.join(', ')}]${session.acr === undefined ? '' : `, acr ${session.acr}`}`, {
      details: { amr: session.amr.join(','), ...(session.acr !== undefined && { acr: session.acr }) },
    });
  }
}

/** The legacy secret-based tokens' issuer. */
const LEGACY_SA_ISSUER = 'kubernetes/serviceaccount';

/**
 * Whether `token` looks like a Kubernetes service-account token: the legacy issuer, a `kubernetes.io`
 * claim object (bound, projected tokens), or `kubernetes.io/serviceaccount/*` claims. UNVERIFIED: only
 * ever used to word the refusal of a token that already failed verification.
 */
export function looksLikeServiceAccountToken(token: string): boolean {
  let claims: Record<string, unknown>;
  try {
    claims = decodeJwt(token);
  } catch {
    return false;
  }
  if (claims.iss === LEGACY_SA_ISSUER) return true;
  const k = claims['kubernetes.io'];
  if (k !== null && typeof k === 'object' && !Array.isArray(k) && ('serviceaccount' in k || 'namespace' in k)) return true;
  return Object.keys(claims).some((name) => name.startsWith('kubernetes.io/serviceaccount/'));
}

/** A verification failure re-worded when the token was a service-account token. */
export function serviceAccountRefusal(err: KubegateError): KubegateError {
  return new KubegateError('AUTHN_SERVICE_ACCOUNT_TOKEN', `a Kubernetes service-account token was presented (${err.message})`, { cause: err, details: { ...err.details, verifyCode: err.code } });
}
