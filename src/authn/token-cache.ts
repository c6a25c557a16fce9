/**
 * A bounded cache of verified identities keyed by a SHA-256 of the token (never the token itself),
 * each entry expiring no later than the token's `exp`. Oldest entries are evicted first.
 */
import { createHash } from 'node:crypto';

export interface TokenCache<V> {
  get(token: string, nowMs: number): V | undefined;
  set(token: string, value: V, expiresAtMs: number): void;
  readonly size: number;
}

export function createTokenCache<V>(maxEntries: number): TokenCache<V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  const entries = new Map<string, { value: V; expiresAtMs: number }>();
  const key = (token: string) => createHash('sha256').update(token).digest('base64');
  return {
    get(token, nowMs) {
      const k = key(token);
      const hit = entries.get(k);
      if (hit === undefined) return undefined;
      if (hit.expiresAtMs <= nowMs) {
        entries.delete(k);
        return undefined;
      }
      return hit.value;
    },
    set(token, value, expiresAtMs) {
      const k = key(token);
      entries.delete(k);
      while (entries.size >= maxEntries) {
        const oldest = entries.keys().next().value as string;
        entries.delete(oldest);
      }
      entries.set(k, { value, expiresAtMs });
    },
    get size() {
      return entries.size;
    },
  };
}
