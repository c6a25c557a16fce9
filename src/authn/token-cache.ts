/**
 * A bounded cache of verified identities keyed by a SHA-256 of the token (never the token itself),
 * each entry expiring no later than the token's `exp`. Oldest entries are evicted first.
 *
 * A compact JWS has more than one accepted spelling: the last base64url character of the signature carries
 * unused low bits (4 of them for RS256, so 16 spellings of one token), and jose decodes them all to the same
 * bytes. The key is therefore a hash of the header and payload segments as received (the signing input
 * covers them, so they cannot be re-encoded) plus the *decoded* signature bytes: every spelling of a token
 * shares one entry, and a re-encoded token is not a cache miss and a full verification.
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
  const key = tokenCacheKey;
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

/** A JWS compact serialization whose segments are all unpadded base64url (what the authenticator verifies). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)$/;

/**
 * The cache key of a token: SHA-256 over `header.payload.` and the decoded signature bytes for a compact JWS
 * (whatever the unused bits of its last character), over the token string as is otherwise. A leading tag
 * keeps the two forms apart. Cheap: one regex test, one base64url decode of ~350 characters, one hash.
 */
export function tokenCacheKey(token: string): string {
  const jws = COMPACT_JWS.exec(token);
  // length % 4 === 1 is not valid base64 (Buffer would silently drop the last character): keep it verbatim.
  if (jws === null || jws[1]!.length % 4 === 1) return createHash('sha256').update('raw\0').update(token).digest('base64');
  const signature = jws[1]!;
  return createHash('sha256')
    .update('jws\0')
    .update(token.slice(0, token.length - signature.length))
    .update(Buffer.from(signature, 'base64url'))
    .digest('base64');
}
