/** The identity kubegate impersonates: what the API server's RBAC and audit will see. */
export interface UserInfo {
  readonly username: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  /** Kubernetes user "extra" fields (sent as Impersonate-Extra-<key>). */
  readonly extra: Readonly<Record<string, readonly string[]>>;
}
