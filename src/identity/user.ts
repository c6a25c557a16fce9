/** The identity kubegate impersonates: what the API server's RBAC and audit will see. */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** Kubernetes user "extra" fields (sent as Impersonate-Extra-<key>). */
  readonly extra: Readonly<Record<string, readonly string[]>>;
}

/**
 * How the person logged in, from the verified token (for policies such as break-glass elevation's MFA
 * and freshness rules). Plain data; never the token.
 */
export interface SessionFacts {
  /** `amr`: authentication methods (e.g. `pwd`, `mfa`, `otp`, `hwk`); empty when absent. */
  amr: readonly string[];
  /** `acr`: authentication context class. */
  acr?: string;
  /** `auth_time`: when the person last authenticated interactively (epoch seconds). */
  authTime?: number;
  /** `iss` of the verified token. */
  issuer?: string;
  /** `iat`: when the token was issued (epoch seconds). */
  issuedAt?: number;
  /** `exp`: when the token expires (epoch seconds). */
  expiresAt?: number;
}

/**
 * Deep-freeze a UserInfo that will be shared across requests (a verified-token cache entry). A frozen
 * UserInfo is immutable, which is what lets its `Impersonate-*` header block be built once
 * (impersonation/identity-block.ts); an identity built for one request (elevation grants, `kubectl --as`)
 * is left unfrozen and its headers are built for that request.
 */
export function freezeUser<U extends UserInfo>(user: U): U {
  Object.freeze(user.groups);
  for (const values of Object.values(user.extra)) Object.freeze(values);
  Object.freeze(user.extra);
  return Object.freeze(user);
}
