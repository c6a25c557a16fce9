import type { SessionFacts, UserInfo } from '../identity/user.js';

export type { SessionFacts } from '../identity/user.js';

/**
 * The state of the issuer's verification keys, as plain data (for `/readyz` and logs).
 * `ready`: a key set is loaded, so tokens can be verified. `stale`: a key set is loaded but the latest
 * refresh failed, so kubegate is verifying with the last good keys. `lastRefreshAt`: ISO time of the
 * last successful fetch. `lastError`: why the latest discovery or key-set fetch failed (cleared on success).
 */
export interface KeyStatus {
  ready: boolean;
  stale: boolean;
  lastRefreshAt?: string;
  lastError?: string;
  /**
   * With several issuers: each one's status by issuer URL. The fields above then aggregate them: `ready`
   * when any issuer can verify (an unreachable issuer delays only its own tokens), `stale` when any is,
   * `lastError` lists each failing issuer's error.
   */
  issuers?: Readonly<Record<string, KeyStatus>>;
}

/** A verified token: the person and how they logged in. */
export interface Authenticated {
  user: UserInfo;
  session: SessionFacts;
}

/** Turns a bearer token into the person it proves, or throws a coded KubegateError. */
export interface Authenticator {
  /**
   * `fingerprint`: the token's `tokenCacheKey` (authn/token-cache.ts) when the caller computed it already
   * (the auth guard does, once per request); computed here otherwise. A hash, never the token.
   */
  authenticate(token: string, fingerprint?: string): Promise<Authenticated>;
  /** True once the authenticator can verify tokens (e.g. its key set is loaded). */
  ready(): boolean;
  /** Resolves once `ready()` is true (never rejects; an unreachable issuer is retried). */
  whenReady(): Promise<void>;
  /** Detail behind `ready()`: whether the keys are stale, when they were last refreshed, the last error. */
  keyStatus(): KeyStatus;
  close(): void;
}
