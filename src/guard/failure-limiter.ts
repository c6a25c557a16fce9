/**
 * Failed-authentication rate limiting: one token bucket per key (a client address, or a token
 * fingerprint), drained by FAILED authentications only. A key whose bucket is empty is throttled until
 * it refills at `perMinute`; a key that never failed has no bucket at all, so successful traffic never
 * costs anything or gets slowed.
 *
 * Memory is bounded: at most `maxKeys` buckets, in a Map kept in least-recently-failed order; the oldest
 * is forgotten first (a forgotten key starts full again, so a flood of addresses can only make the
 * limiter forget, never grow). Buckets that have refilled completely are dropped as they are met.
 *
 * Time comes from `now` (milliseconds), so tests decide what time it is.
 */

export interface FailureLimiterSettings {
  /** Failures a key regains per minute. */
  perMinute: number;
  /** Bucket size: failures allowed in a row. */
  burst: number;
  /** Most keys tracked at once. */
  maxKeys: number;
  now?: () => number;
}

export type Verdict = { throttled: false } | { throttled: true; retryAfterSeconds: number };

export interface FailureLimiter {
  /** Whether `key` is throttled now (its bucket holds less than one failure). Does not change state. */
  check(key: string): Verdict;
  /** Record one failed authentication for `key`. */
  fail(key: string): void;
  /** Keys tracked now (for the gauge). */
  size(): number;
}

interface Bucket {
  /** Failures still allowed, as of `at`. */
  tokens: number;
  at: number;
}

export function createFailureLimiter(s: FailureLimiterSettings): FailureLimiter {
  if (!(s.perMinute > 0 && s.burst >= 1 && s.maxKeys >= 1)) throw new TypeError('createFailureLimiter: perMinute > 0, burst >= 1 and maxKeys >= 1 are required');
  const now = s.now ?? Date.now;
  const perMs = s.perMinute / 60_000;
  const buckets = new Map<string, Bucket>();

  /** The bucket's level at time `t`; drops it (returns undefined) once it is full again. */
  const level = (key: string, t: number): Bucket | undefined => {
    const b = buckets.get(key);
    if (b === undefined) return undefined;
    const tokens = Math.min(s.burst, b.tokens + Math.max(0, t - b.at) * perMs);
    if (tokens >= s.burst) {
      buckets.delete(key);
      return undefined;
    }
    return { tokens, at: t };
  };

  return {
    check(key) {
      const b = level(key, now());
      if (b === undefined || b.tokens >= 1) return { throttled: false };
      return { throttled: true, retryAfterSeconds: Math.max(1, Math.ceil((1 - b.tokens) / perMs / 1000)) };
    },
    fail(key) {
      const t = now();
      const b = level(key, t) ?? { tokens: s.burst, at: t };
      b.tokens = Math.max(0, b.tokens - 1);
      buckets.delete(key); // re-insert: most recently failed last
      buckets.set(key, b);
      while (buckets.size > s.maxKeys) buckets.delete(buckets.keys().next().value!);
    },
    size: () => buckets.size,
  };
}
