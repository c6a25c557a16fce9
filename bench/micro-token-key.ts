/**
 * Micro-measurement (issue 15): the per-request token hashing, in isolation. Before: the auth guard's SHA-256
 * fingerprint for the failure limiter, then the token cache's key (a second SHA-256, over the decoded
 * signature bytes). After: one key per request (authn/token-cache.ts `tokenCacheKey`, one `crypto.hash`
 * over the canonically spelled token), passed on to the limiter and the caches.
 * Run: npx tsx bench/micro-token-key.ts — ns/op, medians of 7 rounds, every variant in the same run.
 */
import { createHash, hash } from 'node:crypto';
import { tokenCacheKey } from '../src/authn/token-cache.js';
import { printNsPerOp, timeVariants } from './micro.js';

const b64 = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 37) & 255)).toString('base64url');
const token = `${b64(80)}.${b64(420)}.${b64(256)}`; // an RS256 ID token's shape (~1,000 characters)
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.([A-Za-z0-9_-]+)$/;

/** The token cache's key before this change (createHash, the signature decoded). */
function oldCacheKey(t: string): string {
  const jws = COMPACT_JWS.exec(t);
  if (jws === null || jws[1]!.length % 4 === 1) return createHash('sha256').update('raw\0').update(t).digest('base64');
  const signature = jws[1]!;
  return createHash('sha256').update('jws\0').update(t.slice(0, t.length - signature.length)).update(Buffer.from(signature, 'base64url')).digest('base64');
}

const variants: Record<string, (t: string) => string> = {
  'before: guard fingerprint (createHash) + cache key (createHash, decoded signature)': (t) => `token ${createHash('sha256').update(t).digest('base64url').slice(0, 32)}` + oldCacheKey(t),
  'only the old cache key (one createHash, decoded signature)': (t) => oldCacheKey(t),
  'one crypto.hash over concatenated bytes (decoded signature)': (t) => {
    const sig = COMPACT_JWS.exec(t)![1]!;
    return hash('sha256', Buffer.concat([Buffer.from(`jws\0${t.slice(0, t.length - sig.length)}`), Buffer.from(sig, 'base64url')]), 'base64');
  },
  'after: tokenCacheKey once (crypto.hash, canonical last character)': (t) => tokenCacheKey(t),
};

printNsPerOp(timeVariants(Object.fromEntries(Object.entries(variants).map(([name, fn]) => [name, () => fn(token).length])), 50_000), true);
