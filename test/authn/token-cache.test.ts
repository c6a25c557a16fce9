import t from 'tap';
import { createTokenCache, tokenCacheKey } from '../../src/authn/token-cache.js';

// All times are explicit; the cache never reads a clock.
const T0 = 1_700_000_000_000;

t.test('get after set', async (t) => {
  const cache = createTokenCache<{ user: string }>(10);
  t.equal(cache.size, 0);
  t.equal(cache.get('token-a', T0), undefined, 'miss on an empty cache');
  const value = { user: 'alice' };
  cache.set('token-a', value, T0 + 60_000);
  t.equal(cache.get('token-a', T0), value, 'the same value object comes back');
  t.equal(cache.get('token-a', T0 + 59_999), value, 'still there later');
  t.equal(cache.size, 1);
});

t.test('set replaces the value and expiry of the same token', async (t) => {
  const cache = createTokenCache<string>(10);
  cache.set('token-a', 'first', T0 + 1_000);
  cache.set('token-a', 'second', T0 + 5_000);
  t.equal(cache.size, 1, 'one entry per token');
  t.equal(cache.get('token-a', T0 + 2_000), 'second', 'new value, new expiry');
  cache.set('token-a', 'third', T0 + 1_000);
  t.equal(cache.get('token-a', T0 + 2_000), undefined, 'a shorter expiry also replaces the longer one');
});

t.test('entries expire at expiresAtMs', async (t) => {
  const cache = createTokenCache<string>(10);
  cache.set('token-a', 'alice', T0 + 1_000);
  cache.set('token-b', 'bob', T0 + 2_000);
  t.equal(cache.get('token-a', T0 + 999), 'alice', 'valid 1 ms before');
  t.equal(cache.get('token-a', T0 + 1_000), undefined, 'gone exactly at expiresAtMs');
  t.equal(cache.get('token-a', T0 + 999), undefined, 'an expired entry is dropped, not just hidden');
  t.equal(cache.size, 1, 'expired entry removed on access');
  t.equal(cache.get('token-b', T0 + 1_000), 'bob', 'other entries are unaffected');
  t.equal(cache.get('token-b', T0 + 2_001), undefined);
  t.equal(cache.size, 0);
});

t.test('an entry set already expired is never returned', async (t) => {
  const cache = createTokenCache<string>(10);
  cache.set('token-a', 'alice', T0);
  t.equal(cache.get('token-a', T0), undefined);
  t.equal(cache.get('token-a', T0 - 1), undefined, 'and it was removed by the first miss');
});

t.test('when full, the oldest entry is evicted', async (t) => {
  const cache = createTokenCache<string>(3);
  cache.set('t1', 'v1', T0 + 10_000);
  cache.set('t2', 'v2', T0 + 10_000);
  cache.set('t3', 'v3', T0 + 10_000);
  t.equal(cache.size, 3);

  cache.set('t4', 'v4', T0 + 10_000);
  t.equal(cache.size, 3, 'never above maxEntries');
  t.equal(cache.get('t1', T0), undefined, 'oldest (t1) evicted');
  t.equal(cache.get('t2', T0), 'v2');
  t.equal(cache.get('t3', T0), 'v3');
  t.equal(cache.get('t4', T0), 'v4');

  // Re-setting an existing token while full evicts nothing and makes it the newest.
  // (t3 is in the middle: neither the oldest, t2, nor the newest, t4.)
  cache.set('t3', 'v3b', T0 + 10_000);
  t.equal(cache.size, 3);
  t.equal(cache.get('t2', T0), 'v2', 'refreshing t3 did not evict the oldest, t2');
  t.equal(cache.get('t4', T0), 'v4', 'refreshing t3 did not evict t4');
  t.equal(cache.get('t3', T0), 'v3b');

  cache.set('t5', 'v5', T0 + 10_000);
  t.equal(cache.get('t2', T0), undefined, 't2 is still the oldest and is evicted');
  cache.set('t6', 'v6', T0 + 10_000);
  t.equal(cache.get('t4', T0), undefined, 'then t4, inserted before t3 was refreshed');
  t.equal(cache.get('t3', T0), 'v3b', 'refreshed t3 survives longer');
  t.equal(cache.get('t5', T0), 'v5');
  t.equal(cache.get('t6', T0), 'v6');
  t.equal(cache.size, 3);
});

t.test('eviction in a cache of one', async (t) => {
  const cache = createTokenCache<string>(1);
  cache.set('t1', 'v1', T0 + 10_000);
  cache.set('t2', 'v2', T0 + 10_000);
  t.equal(cache.size, 1);
  t.equal(cache.get('t1', T0), undefined);
  t.equal(cache.get('t2', T0), 'v2');
});

t.test('tokens are distinct keys', async (t) => {
  const cache = createTokenCache<string>(100);
  // tokens that differ only slightly, or are prefixes of one another
  const tokens = [
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig1',
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig2',
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig',
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.SIG1',
    'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig1 ',
    'a',
    'b',
    '',
    'tökén',
    'token\u0000x',
    'token\u0000y',
  ];
  tokens.forEach((token, i) => cache.set(token, `value-${i}`, T0 + 60_000));
  t.equal(cache.size, tokens.length, 'no two tokens share an entry');
  tokens.forEach((token, i) => t.equal(cache.get(token, T0), `value-${i}`, `token ${i} maps to its own value`));
  for (const unknown of ['eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.sig3', 'c', 'token\u0000', 'value-0']) {
    t.equal(cache.get(unknown, T0), undefined, `unknown token ${JSON.stringify(unknown)} misses`);
  }
});

t.test('caches are independent', async (t) => {
  const a = createTokenCache<string>(10);
  const b = createTokenCache<string>(10);
  a.set('token', 'from-a', T0 + 1_000);
  t.equal(b.get('token', T0), undefined);
  t.equal(b.size, 0);
});

// A compact JWS: header.payload.signature, the signature 256 bytes as RS256 makes (342 base64url characters,
// the last carrying 2 data bits and 4 unused ones).
const HEADER = Buffer.from('{"alg":"RS256","kid":"k"}').toString('base64url');
const PAYLOAD = Buffer.from('{"sub":"alice"}').toString('base64url');
const SIG_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => (i * 37 + 11) & 0xff));
const SIG = SIG_BYTES.toString('base64url');
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const respell = (sig: string, low: number) => sig.slice(0, -1) + B64URL[(B64URL.indexOf(sig.at(-1)!) & 0b110000) | low];

t.test('every spelling of one signature is one entry', async (t) => {
  t.equal(SIG.length, 342);
  const spellings = Array.from({ length: 16 }, (_, low) => `${HEADER}.${PAYLOAD}.${respell(SIG, low)}`);
  t.equal(new Set(spellings).size, 16, '16 distinct strings');
  t.equal(new Set(spellings.map(tokenCacheKey)).size, 1, 'one key');
  const cache = createTokenCache<string>(10);
  cache.set(spellings[0]!, 'alice', T0 + 60_000);
  for (const s of spellings) t.equal(cache.get(s, T0), 'alice');
  t.equal(cache.size, 1);
});

t.test('other signatures, headers and payloads are other entries', async (t) => {
  const other = Buffer.from(SIG_BYTES);
  other[100] = other[100]! ^ 1;
  const tokens = [
    `${HEADER}.${PAYLOAD}.${SIG}`,
    `${HEADER}.${PAYLOAD}.${other.toString('base64url')}`, // one bit of the signature differs
    `${HEADER}.${PAYLOAD}.${SIG.slice(0, -4)}`, // a shorter signature
    `${HEADER}.${Buffer.from('{"sub":"bob"}').toString('base64url')}.${SIG}`,
    `${Buffer.from('{"alg":"RS256","kid":"j"}').toString('base64url')}.${PAYLOAD}.${SIG}`,
    // header and payload are taken as received: a different split of the same characters is another token
    `${HEADER}${PAYLOAD.slice(0, 2)}.${PAYLOAD.slice(2)}.${SIG}`,
  ];
  t.equal(new Set(tokens.map(tokenCacheKey)).size, tokens.length, 'all distinct');
});

t.test('strings that are not a compact JWS are keyed as they are', async (t) => {
  const jws = `${HEADER}.${PAYLOAD}.${SIG}`;
  const lookalikes = [
    `${jws} `, // Buffer's decoder would skip these characters; the key must not
    `${HEADER}.${PAYLOAD}.${SIG.slice(0, 100)}!${SIG.slice(100)}`,
    `${HEADER}.${PAYLOAD}.${SIG}A`, // length % 4 === 1: not base64
    `${HEADER}.${PAYLOAD}.${SIG}=`,
    `${HEADER}.${PAYLOAD}`,
    `${HEADER}.${PAYLOAD}.${SIG}.x`,
  ];
  const keys = new Set([jws, ...lookalikes].map(tokenCacheKey));
  t.equal(keys.size, lookalikes.length + 1, 'no lookalike shares the JWS\'s key or another\'s');
  t.equal(tokenCacheKey(`${HEADER}.${PAYLOAD}.${SIG}A`), tokenCacheKey(`${HEADER}.${PAYLOAD}.${SIG}A`), 'stable');
});
