/**
 * A bounded cache of verified identities keyed by a SHA-256 of the token (never the token itself),
 * each entry expiring no later than the token's `exp`. Oldest entries are evicted first.
 *
 * A compact JWS has more than one accepted spelling: the last base64url character of the signature carries
 * unused low bits (4 of them for RS256, so 16 spellings of one token), and jose decodes them all to the same
 * bytes. The key is therefore a hash of the header and payload segments as received (the signing input
 * covers them, so they cannot be re-encoded) plus the signature in its canonical spelling (those bits
 * cleared): every spelling of a token shares one entry, and a re-encoded token is not a cache miss and a
 * full verification.
 */
import { hash } from 'node:crypto';

export interface TokenCache<V> {
  /** `key`: the token's {@link tokenCacheKey} when the caller has it already (computed once per request). */
  get(token: string, nowMs: number, key?: string): V | undefined;
  set(token: string, value: V, expiresAtMs: number, key?: string): void;
  readonly size: number;
}

export function createTokenCache<V>(maxEntries: number): TokenCache<V> {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError(`maxEntries must be a positive integer, got ${maxEntries}`);
  const entries = new Map<string, { value: V; expiresAtMs: number }>();
  return {
    get(token, nowMs, k = tokenCacheKey(token)) {
      const hit = entries.get(k);
      if (hit === undefined) return undefined;
      if (hit.expiresAtMs <= nowMs) {
        entries.delete(k);
        return undefined;
      }
      return hit.value;
    },
    set(token, value, expiresAtMs, k = tokenCacheKey(token)) {
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

/** A JWS compact serialization whose segments are all unpadded base64url (what the authenticator verifies). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)$/;
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
/** Unused low bits of the last character, by signature length % 4 (1 is not base64; 0 has none). */
const UNUSED_BITS = [0, 0, 4, 2] as const;

/**
 * The cache key of a token: SHA-256 over the compact JWS with the unused low bits of its last character
 * cleared (the canonical spelling of the same signature bytes), over the token string as is otherwise. A
 * leading tag keeps the two forms apart. Computed once per request (the auth guard passes it on as the
 * token's fingerprint, for the failure limiter and this cache): one regex test, one hash of ~1 KB, no
 * decoding.
 */
export function tokenCacheKey(token: string): string {
  const jws = COMPACT_JWS.exec(token);
  // length % 4 === 1 is not valid base64 (a decoder would silently drop the last character): keep it verbatim.
  if (jws === null || jws[1]!.length % 4 === 1) return hash('sha256', `raw\0${token}`, 'base64');
  const unused = UNUSED_BITS[jws[1]!.length % 4]!;
  if (unused === 0) return hash('sha256', `jws\0${token}`, 'base64');
  const last = B64URL.indexOf(token[token.length - 1]!) & ~((1 << unused) - 1);
  return hash('sha256', `jws\0${token.slice(0, -1)}${B64URL[last]!}`, 'base64');
}
