/**
 * What `kubegate login` needs to know, as plain data: which issuer and client, which scopes, which grant.
 * The command line is parsed in cli/login.ts; the kubeconfig writer (kubeconfig.ts) turns the same
 * settings back into `exec.args`, so every option is also readable from a kubeconfig.
 */

export type Grant = 'code' | 'device';

export interface LoginOptions {
  /** The issuer URL, exactly as in its discovery document (`iss`). */
  issuer: string;
  clientId: string;
  /** Only for identity providers that insist on a secret for this client (sent as client_secret_post). */
  clientSecret?: string | undefined;
  /** The scopes requested, `openid` first and no repeats (see {@link normalizeScopes}). */
  scopes: string[];
  /** A PEM CA bundle file that signs the issuer's TLS certificate (default: the system's roots). */
  caFile?: string | undefined;
  /** The loopback callback port for the code flow; 0 picks a free one. */
  listenPort: number;
  grant: Grant;
  /** Sign in again even with a usable token, with `prompt=login` and `max_age=0` (a fresh MFA). */
  force: boolean;
  /** Extra authorization request parameters (`--auth-param k=v`), e.g. Google's `access_type=offline`. */
  authParams: Record<string, string>;
  /** Where tokens are cached (default: see cache.ts `defaultCacheDir`). */
  cacheDir?: string | undefined;
}

/**
 * `openid` first, then the given scopes in order, without repeats or blanks.
 * @example normalizeScopes(['groups', 'openid', 'groups']) // ['openid', 'groups']
 */
export function normalizeScopes(scopes: readonly string[]): string[] {
  const out = ['openid'];
  for (const raw of scopes) {
    const scope = raw.trim();
    if (scope !== '' && !out.includes(scope)) out.push(scope);
  }
  return out;
}

/** What a cached token belongs to: issuer + client id + the set of scopes (order-free). Not the grant. */
export function cacheIdentity(opts: Pick<LoginOptions, 'issuer' | 'clientId' | 'scopes'>): { issuer: string; clientId: string; scopes: string[] } {
  return { issuer: opts.issuer, clientId: opts.clientId, scopes: [...normalizeScopes(opts.scopes)].sort() };
}
