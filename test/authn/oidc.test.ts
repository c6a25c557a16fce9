/**
 * The authenticator's verified-token cache, seen from outside: a token re-spelled by flipping the unused
 * low bits of its signature's last base64url character is the same token (jose accepts every spelling) and
 * is served from the cache; a token with another signature is not. Proved by removing the signing key
 * from the issuer after the first verification: only a cache hit can still accept the token then.
 */
import t from 'tap';
import { authenticatorFor, outcome } from '../support/authn.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { eventually, within } from '../support/wait.js';

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/** The token with the signature's last character's unused bits set to `low` (RS256: 4 unused bits). */
function respell(token: string, low: number): string {
  const value = B64URL.indexOf(token.at(-1)!);
  return token.slice(0, -1) + B64URL[(value & 0b110000) | low]!;
}

t.test('a re-spelled signature is served from the cache; another signature is not', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  const settings = { jwksMinRefetchIntervalMs: 50, jwksCacheMaxAgeMs: 100 };
  const { authn } = authenticatorFor(t, issuer, settings);
  await within(authn.whenReady(), 10_000, 'the key set to load');

  const token = await issuer.sign(a, { email: 'alice@example.com' });
  t.equal(token.split('.')[2]!.length % 4, 2, 'an RS256 signature segment ends with a character carrying 4 unused bits');
  const spellings = Array.from({ length: 16 }, (_, low) => respell(token, low));
  t.equal(new Set(spellings).size, 16, '16 spellings of one token');
  t.ok(spellings.includes(token));

  // jose itself accepts every spelling (checked on an authenticator with its own, empty cache).
  const { authn: fresh } = authenticatorFor(t, issuer, settings);
  await within(fresh.whenReady(), 10_000, 'the second key set to load');
  for (const s of spellings) t.equal((await outcome(fresh, s)).user, 'alice@example.com', 'a fresh verifier accepts the spelling');
  fresh.close();

  t.equal((await outcome(authn, token)).user, 'alice@example.com', 'verified once');

  // Another signature over the same header and payload: change a fully used character in the middle.
  const [h, p, sig] = token.split('.') as [string, string, string];
  const mid = sig.length >> 1;
  const otherSig = sig.slice(0, mid) + (sig[mid] === 'A' ? 'B' : 'A') + sig.slice(mid + 1);
  const other = `${h}.${p}.${otherSig}`;

  // The issuer drops key-a; wait until a new token signed by it is refused (the key set no longer has it).
  const b = await issuer.addKey('key-b', { publish: false });
  issuer.publish([b]);
  await eventually('key-a to leave the key set', async () => {
    const o = await outcome(authn, await issuer.sign(a, { email: 'probe@example.com' }));
    return o.code === 'AUTHN_INVALID_TOKEN' ? true : undefined;
  }, 5_000);

  for (const s of spellings) {
    t.equal((await outcome(authn, s)).user, 'alice@example.com', `spelling ${spellings.indexOf(s)}: served from the cache (it cannot be verified any more)`);
  }
  t.equal((await outcome(authn, other)).code, 'AUTHN_INVALID_TOKEN', 'a different signature is not a cache hit');
});
