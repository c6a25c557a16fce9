/**
 * One issuer's verification key set, used as the key-resolution function of `jose.jwtVerify`. Key
 * selection and signature checks stay jose's (`createLocalJWKSet` over the last good JWKS document);
 * this module only decides when that document is fetched and what happens when fetching fails:
 *
 * - The last good set is kept until a newer good one replaces it: a failed fetch never drops keys, so an
 *   identity-provider outage does not turn valid tokens into 401s (kube-apiserver's verifier does the same).
 * - It is refreshed in the background every `cacheMaxAgeMs`, so keys the issuer removed go away.
 * - A token whose `kid`/`alg` matches no key triggers a refetch, single-flight (callers arriving during a
 *   fetch await that fetch) and rate-limited per issuer: a fetch starts at least `minRefetchIntervalMs`
 *   after the previous one ended, failed fetches included, and the gap doubles with each consecutive
 *   failure up to `maxBackoffMs`. A caller arriving within the gap after a successful fetch waits for one
 *   coalesced fetch at the gap's end (a key rotated in just after a fetch is accepted within about the
 *   gap); a caller arriving during failure backoff is answered at once from the last good set.
 *
 * jose's `createRemoteJWKSet` is not used because its cooldown counts from the last *successful* fetch
 * (every unknown kid refetches while the endpoint fails) and it drops its keys after `cacheMaxAge`.
 */
import * as jose from 'jose';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import type { KeyStatus } from './authenticator.js';
import type { GetFetch } from './fetch.js';
import { describeFetchError, fetchErrorCode, IssuerFetchError } from '../net/fetch-error.js';

/** The production values; tests pass small ones. */
export const KEY_SET_DEFAULTS = Object.freeze({
  minRefetchIntervalMs: 2_000,
  cacheMaxAgeMs: 10 * 60_000,
  maxBackoffMs: 60_000,
  fetchTimeoutMs: 5_000,
});

export interface KeySetOptions {
  /** The issuer's `jwks_uri`, from discovery. */
  jwksUri: string;
  /** The issuer URL, for log lines and error details. */
  issuer: string;
  /** Fetches the document; expected to cap the response size (see fetch.ts). */
  fetch: GetFetch;
  log: Logger;
  /** Least gap between the end of one fetch and the start of the next (default 2 s). */
  minRefetchIntervalMs?: number | undefined;
  /** Background refresh period (default 10 min). Keys are never dropped for age alone. */
  cacheMaxAgeMs?: number | undefined;
  /** Upper bound of the gap after consecutive failed fetches (default 60 s). */
  maxBackoffMs?: number | undefined;
  /** A fetch (connect, answer, body) that takes longer fails (default 5 s). */
  fetchTimeoutMs?: number | undefined;
  /** Told of every completed fetch (for metrics). */
  onFetch?: ((ok: boolean) => void) | undefined;
}

export interface IssuerKeySet {
  /**
   * The key resolver for `jose.jwtVerify`.
   * @throws KubegateError AUTHN_PROVIDER_UNAVAILABLE when no key set was ever loaded; AUTHN_INVALID_TOKEN when
   *   no key matches and the key set could not be refreshed; jose errors (e.g. `JWKSNoMatchingKey` after a
   *   successful refresh) otherwise.
   */
  readonly getKey: (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput) => Promise<jose.CryptoKey>;
  /** A key set is loaded. */
  ready(): boolean;
  /** Resolves when the first key set is loaded (never rejects). */
  whenReady(): Promise<void>;
  status(): KeyStatus;
  /** Stops background refreshes; callers waiting for a coalesced fetch are answered from the current set. */
  close(): void;
}

/** Start loading the key set in the background and return at once. @throws TypeError on a bad option. */
export function createIssuerKeySet(o: KeySetOptions): IssuerKeySet {
  const minInterval = duration(o.minRefetchIntervalMs, KEY_SET_DEFAULTS.minRefetchIntervalMs, 'minRefetchIntervalMs');
  const cacheMaxAge = duration(o.cacheMaxAgeMs, KEY_SET_DEFAULTS.cacheMaxAgeMs, 'cacheMaxAgeMs');
  const maxBackoff = Math.max(minInterval, duration(o.maxBackoffMs, KEY_SET_DEFAULTS.maxBackoffMs, 'maxBackoffMs'));
  const fetchTimeout = duration(o.fetchTimeoutMs, KEY_SET_DEFAULTS.fetchTimeoutMs, 'fetchTimeoutMs');
  const { log } = o;
  const where = { issuer: o.issuer, jwksUri: o.jwksUri };
  const now = () => performance.now(); // monotonic: a wall-clock step must not open or close the rate limit

  let local: jose.LocalJWKSet | undefined; // the last good key set
  let failures = 0; // consecutive failed fetches
  let failingSince: number | undefined;
  let lastRefreshAt: number | undefined; // wall-clock ms of the last good fetch
  let lastError: string | undefined;
  let nextFetchAt = 0; // no fetch starts before this (monotonic ms)
  let inflight: Promise<boolean> | undefined;
  let coalesced: { promise: Promise<boolean>; timer: NodeJS.Timeout; settle: (outcome: boolean | Promise<boolean>) => void } | undefined;
  let refreshTimer: NodeJS.Timeout | undefined;
  let abortFetch: AbortController | undefined;
  let closed = false;
  let markReady!: () => void;
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve));

  /** The gap before the next fetch may start: the minimum, doubled per consecutive failure, capped. */
  const gap = () => (failures === 0 ? minInterval : Math.min(minInterval * 2 ** failures, maxBackoff));

  const load = (controller: AbortController) =>
    withDeadline(fetchTimeout, controller, async (signal) => {
      const res = await o.fetch(o.jwksUri, { method: 'GET', headers: { accept: 'application/json, application/jwk-set+json' }, signal });
      if (res.status !== 200) throw new Error(`the key set endpoint answered HTTP ${res.status}`);
      const document = (await res.json()) as jose.JSONWebKeySet;
      const keySet = jose.createLocalJWKSet(document); // validates the document's shape
      // An empty set verifies nothing: an issuer's error page in JWKS form must not wipe the last good keys.
      if (document.keys.length === 0) throw new Error('the key set has no keys');
      return { keySet, size: document.keys.length };
    });

  /** Start a fetch now; resolves true when it replaced the key set, false when it failed. Never rejects. */
  const fetchNow = (): Promise<boolean> => {
    const run = (async () => {
      try {
        const { keySet, size } = await load((abortFetch = new AbortController()));
        if (closed) return false;
        if (local === undefined) log.info('oidc issuer ready', { ...where, keys: size }); // test/cli/serve-workers waits for this line
        else if (failures > 0) {
          log.info('oidc issuer key set refresh recovered', { ...where, keys: size, failedFetches: failures, failingForMs: Math.round(now() - failingSince!) });
        } else log.debug('oidc issuer key set refreshed', { ...where, keys: size });
        o.onFetch?.(true);
        local = keySet;
        failures = 0;
        failingSince = undefined;
        lastError = undefined;
        lastRefreshAt = Date.now();
        markReady();
        return true;
      } catch (err) {
        if (closed) return false;
        o.onFetch?.(false);
        lastError = describe(err, o.jwksUri, fetchTimeout);
        if (failures === 0) {
          failingSince = now();
          const message = local === undefined
            ? 'oidc issuer keys cannot be loaded; tokens are answered 503 until they are'
            : 'oidc issuer key set refresh failing; verifying with the last good keys';
          log.warn(message, { ...where, error: lastError });
        } else log.debug('oidc issuer key set refresh failed again', { ...where, error: lastError, failedFetches: failures + 1 });
        failures++;
        return false;
      } finally {
        inflight = undefined;
        abortFetch = undefined;
        nextFetchAt = now() + gap();
        scheduleRefresh();
      }
    })();
    inflight = run;
    // Callers waiting for a coalesced fetch arrived before this one started: it answers them too.
    if (coalesced !== undefined) {
      clearTimeout(coalesced.timer);
      coalesced.settle(run);
      coalesced = undefined;
    }
    return run;
  };

  /** The background timer: the next periodic refresh after a success, the next retry after a failure. */
  const scheduleRefresh = (delay = failures === 0 ? Math.max(cacheMaxAge, minInterval) : gap()) => {
    if (closed) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      if (inflight !== undefined) return; // its end reschedules
      const early = nextFetchAt - now(); // timers may fire a little early by this clock
      if (early > 0) scheduleRefresh(early);
      else void fetchNow();
    }, delay);
    refreshTimer.unref();
  };

  /**
   * A caller found no matching key: refetch within the rate limit. Resolves true when a fetch the caller
   * waited for succeeded, false when the caller is to be answered from the current set.
   */
  const refetch = (): Promise<boolean> => {
    if (closed) return Promise.resolve(false);
    if (inflight !== undefined) return inflight;
    const wait = nextFetchAt - now();
    if (wait <= 0) return fetchNow();
    if (failures > 0) return Promise.resolve(false); // backing off: do not make callers wait for a failing issuer
    if (coalesced === undefined) {
      let settle!: (outcome: boolean | Promise<boolean>) => void;
      const promise = new Promise<boolean>((resolve) => (settle = resolve));
      // Not unref()ed: callers are waiting on it. It is short (≤ minRefetchIntervalMs) and close() clears it.
      const timer = setTimeout(() => {
        coalesced = undefined;
        settle(refetch());
      }, wait);
      coalesced = { promise, timer, settle };
    }
    return coalesced.promise;
  };

  const getKey = async (header: jose.JWSHeaderParameters, token: jose.FlattenedJWSInput): Promise<jose.CryptoKey> => {
    if (local !== undefined) {
      try {
        return await local(header, token);
      } catch (err) {
        if (!(err instanceof jose.errors.JWKSNoMatchingKey)) throw err;
      }
    }
    const refreshed = await refetch();
    const current = local;
    if (current === undefined) {
      throw new KubegateError('AUTHN_PROVIDER_UNAVAILABLE', `the issuer's keys are not loaded${lastError ? `: ${lastError}` : ''}`, {
        details: { issuer: o.issuer, ...(lastError && { keySetError: lastError }) },
      });
    }
    try {
      return await current(header, token);
    } catch (err) {
      if (err instanceof jose.errors.JWKSNoMatchingKey && !refreshed && lastError !== undefined) {
        throw new KubegateError('AUTHN_INVALID_TOKEN', 'token rejected: no key in the issuer\'s key set matches its kid and alg, and the key set refresh is failing', {
          cause: err,
          details: { joseCode: err.code, keySetRefresh: 'failing', keySetError: lastError },
        });
      }
      throw err;
    }
  };

  void fetchNow();

  return {
    getKey,
    ready: () => local !== undefined,
    whenReady: () => readyPromise,
    status: () => ({
      ready: local !== undefined,
      stale: local !== undefined && failures > 0,
      ...(lastRefreshAt !== undefined && { lastRefreshAt: new Date(lastRefreshAt).toISOString() }),
      ...(lastError !== undefined && { lastError }),
    }),
    close() {
      closed = true;
      clearTimeout(refreshTimer);
      abortFetch?.abort(new Error('the key set was closed'));
      if (coalesced !== undefined) {
        clearTimeout(coalesced.timer);
        coalesced.settle(false);
        coalesced = undefined;
      }
    },
  };
}

function duration(value: number | undefined, fallback: number, option: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new TypeError(`${option} must be a positive number of milliseconds, got ${value}`);
  return value;
}

/**
 * Run `work` with the controller's signal, aborted after `ms`; the result rejects then (or when the controller
 * is aborted by someone else) even if `work` ignores the signal.
 */
function withDeadline<T>(ms: number, controller: AbortController, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    timer = setTimeout(() => controller.abort(new Error(`no complete answer within ${ms} ms`)), ms);
  });
  return Promise.race([work(controller.signal), deadline]).finally(() => clearTimeout(timer));
}

/** An error as one line for the log and /readyz (fetch errors keep their cause, e.g. ECONNREFUSED). */
/** Network and TLS failures in plain words (net/fetch-error.ts); the key set's own checks as they are. */
function describe(err: unknown, url: string, timeoutMs: number): string {
  if (err instanceof IssuerFetchError || fetchErrorCode(err) !== undefined) return describeFetchError(err, { url, timeoutMs });
  if (!(err instanceof Error)) return String(err);
  const cause = err.cause instanceof Error && err.cause.message !== err.message ? `: ${err.cause.message}` : '';
  return `${err.message}${cause}`;
}
