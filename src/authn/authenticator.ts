import type { UserInfo } from '../identity/user.js';

/** Turns a bearer token into the identity to impersonate, or throws a coded KubegateError. */
export interface Authenticator {
  authenticate(token: string): Promise<UserInfo>;
  /** True once the authenticator can verify tokens (e.g. its key set is loaded). */
  ready(): boolean;
  /** Resolves once `ready()` is true (never rejects; an unreachable issuer is retried). */
  whenReady(): Promise<void>;
  close(): void;
}
