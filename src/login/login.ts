/**
 * `kubegate login` as a function: an ID token for the person, from the cache when it still has a usable
 * one, else by refreshing, else by signing in — in that order:
 *
 * 1. Cache hit: a token valid for longer than the expiry margin (token.ts) is returned as it is. Nothing
 *    is contacted: no discovery, no JWKS, and openid-client is not even loaded.
 * 2. Lock: one process per cache entry goes on; the others wait, then usually find its token (step 1 again).
 * 3. Refresh: with a cached refresh token, one refresh-token grant (after discovery).
 * 4. Sign in: the code flow or the device flow — only when the run may interact with the person
 *    (`interactive`); otherwise a LOGIN_REQUIRED error telling them what to run.
 *
 * `--force` skips 1 and 3 and signs in with `prompt=login` and `max_age=0`. Every new token is verified by
 * openid-client (oidc.ts) before it is cached and returned.
 */
import { openTokenCache, type CachedLogin } from './cache.js';
import type { OpenBrowser } from './browser.js';
import { LoginError } from './errors.js';
import { issuerFetch, type IssuerFetch } from '../net/issuer-fetch.js';
import { cacheIdentity, type LoginOptions } from './options.js';
import { isUsable, usableUntil } from './token.js';
import type { Tokens } from './oidc.js';

/** How long the browser has to come back to the loopback (code flow). */
export const DEFAULT_CALLBACK_TIMEOUT_MS = 5 * 60_000;
/** How long a process waits for another one's sign-in (longer than a device flow may take). */
export const DEFAULT_LOCK_TIMEOUT_MS = 31 * 60_000;

export interface LoginDeps {
  /** Epoch milliseconds; decides whether a cached token is still usable. */
  now(): number;
  /** false: never start a sign-in (kubectl gave the plugin no terminal). */
  interactive: boolean;
  /** Lines for the person (stderr). */
  progress(line: string): void;
  openBrowser: OpenBrowser;
  /** The cache directory when `opts.cacheDir` is not set. */
  defaultCacheDir: string;
  /** The CA bundle text for `opts.caFile`, read by the caller (undefined: system roots). */
  ca?: string | undefined;
  /** How to tell the person to sign in when `interactive` is false: the exact command line. */
  loginCommand: string;
  /** Replaces the issuer fetch built from `ca` (tests use it to tamper with answers). */
  fetch?: IssuerFetch | undefined;
  callbackTimeoutMs?: number;
  lockTimeoutMs?: number;
  signal?: AbortSignal | undefined;
}

export interface LoginResult {
  idToken: string;
  /** Until when (epoch seconds) kubectl may use the token: its `exp` minus the margin, never later. */
  expiresAt: number;
  /** Where the token came from. */
  source: 'cache' | 'refresh' | 'login';
}

/**
 * An ID token for `opts`.
 * @throws LoginError LOGIN_REQUIRED when a sign-in is needed but `deps.interactive` is false; any code of
 *   oidc.ts for a failed sign-in; CACHE_FAILED when the cache cannot be used.
 */
export async function login(opts: LoginOptions, deps: LoginDeps): Promise<LoginResult> {
  const id = cacheIdentity(opts);
  const cache = openTokenCache(opts.cacheDir ?? deps.defaultCacheDir);
  const fromCache = (entry: CachedLogin | undefined): LoginResult | undefined =>
    entry && isUsable(entry, deps.now()) ? { idToken: entry.idToken, expiresAt: usableUntil(entry), source: 'cache' } : undefined;

  const cached = cache.read(id);
  if (!opts.force) {
    const hit = fromCache(cached);
    if (hit) return hit;
  }
  if (!deps.interactive && (opts.force || !cached?.refreshToken)) throw loginRequired(opts, deps);

  const lock = await cache.lock(id, {
    timeoutMs: deps.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS,
    signal: deps.signal,
    onWait: (holder) => deps.progress(`Waiting for another kubegate login to finish (pid ${holder.pid}) ...`),
  });
  try {
    const entry = cache.read(id);
    if (!opts.force) {
      // Another process may have signed in while this one waited for the lock.
      const hit = fromCache(entry);
      if (hit) return hit;
    }
    const oidc = await import('./oidc.js');
    const config = await oidc.discover(opts, deps.fetch ?? issuerFetch(deps.ca));
    const save = (tokens: Tokens, source: LoginResult['source']): LoginResult => {
      cache.write({ version: 1, ...id, idToken: tokens.idToken, refreshToken: tokens.refreshToken, subject: tokens.sub, exp: tokens.exp, iat: tokens.iat });
      return { idToken: tokens.idToken, expiresAt: usableUntil(tokens), source };
    };

    if (!opts.force && entry?.refreshToken) {
      try {
        return save(await oidc.refresh(config, entry.refreshToken, entry.subject), 'refresh');
      } catch (err) {
        if (!(err instanceof LoginError)) throw err;
        if (!deps.interactive) throw loginRequired(opts, deps, err);
        deps.progress(`Could not refresh the cached login (${err.message}); signing in again.`);
      }
    }
    if (!deps.interactive) throw loginRequired(opts, deps);

    const io = { progress: deps.progress, openBrowser: deps.openBrowser, callbackTimeoutMs: deps.callbackTimeoutMs ?? DEFAULT_CALLBACK_TIMEOUT_MS, signal: deps.signal };
    const tokens = opts.grant === 'device' ? await oidc.signInWithDevice(config, opts, io) : await oidc.signInWithCode(config, opts, io);
    deps.progress(`Signed in to ${opts.issuer}; token valid until ${new Date(tokens.exp * 1000).toISOString()}.`);
    return save(tokens, 'login');
  } finally {
    lock.release();
  }
}

function loginRequired(opts: LoginOptions, deps: LoginDeps, cause?: LoginError): LoginError {
  const why = opts.force
    ? 'a fresh sign-in was asked for (--force)'
    : cause
      ? `the cached login could not be refreshed (${cause.message})`
      : 'there is no valid cached login';
  return new LoginError(
    'LOGIN_REQUIRED',
    `${why}, and this run cannot open a browser or wait for you (kubectl ran it without a terminal). Sign in by running:\n\n  ${deps.loginCommand}\n\nthen run your command again.`,
    cause ? { cause } : {},
  );
}
