/**
 * The issuer's key set while the issuer is healthy: loaded once and cached between requests, refetched when
 * a token names an unknown `kid` (the issuer rotated its keys) — a key rotated in right after a fetch is
 * accepted on the first try, the caller waiting for one coalesced fetch — and not refetched for every
 * unknown kid (at most one fetch per refetch interval). A small discovery + JWKS server on loopback stands
 * in for the issuer; everything else is the real authenticator.
 */
import t from 'tap';
import { authenticatorFor, outcome } from '../support/authn.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { sleep, within } from '../support/wait.js';

t.test('keys are cached: different tokens, one fetch', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  const { authn } = authenticatorFor(t, issuer);
  await within(authn.whenReady(), 10_000, 'the key set to load');
  for (let i = 0; i < 5; i++) t.equal((await outcome(authn, await issuer.sign(a, { email: `user${i}@example.com` }))).user, `user${i}@example.com`);
  t.equal(issuer.jwksFetches, 1, 'five different tokens, one key-set fetch');
});

t.test('a key rotated in right after a fetch is accepted on the first try (default 2 s interval)', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  await issuer.addKey('key-a');
  const { authn } = authenticatorFor(t, issuer); // production defaults
  await within(authn.whenReady(), 10_000, 'the key set to load');
  t.equal(issuer.jwksFetches, 1);

  // The issuer rotates at once; clients use the new key immediately, and others send unknown kids meanwhile.
  const b = await issuer.addKey('key-b');
  const stranger = await issuer.addKey('key-unknown', { publish: false });
  const rotated = await Promise.all(Array.from({ length: 10 }, (_, i) => issuer.sign(b, { email: `b${i}@example.com` })));
  const unknown = await Promise.all(Array.from({ length: 10 }, (_, i) => issuer.sign(stranger, { email: `x${i}@example.com` })));
  const started = performance.now();
  const [accepted, refused] = await within(
    Promise.all([Promise.all(rotated.map((tok) => outcome(authn, tok))), Promise.all(unknown.map((tok) => outcome(authn, tok)))]),
    10_000,
    'the requests to be answered',
  );
  const waited = performance.now() - started;
  t.same(accepted.map((o) => o.user), rotated.map((_, i) => `b${i}@example.com`), 'every token from the rotated key accepted on the first try');
  t.same(new Set(refused.map((o) => o.code)), new Set(['AUTHN_INVALID_TOKEN']), 'a key the issuer does not publish is refused');
  t.notOk(refused.some((o) => o.details?.keySetRefresh === 'failing'), 'not blamed on a failing refresh: the refresh succeeded');
  t.equal(issuer.jwksFetches, 2, 'all twenty coalesced into one refetch');
  t.ok(waited < 4_000, `answered within about the 2 s interval (${Math.round(waited)} ms)`);
  t.comment(`measured: rotated key accepted after ${Math.round(waited)} ms, 2 fetches in all`);
});

t.test('a flood of unknown kids while the issuer is healthy: at most one fetch per interval', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  await issuer.addKey('key-a');
  const stranger = await issuer.addKey('key-unknown', { publish: false });
  const min = 100;
  const { authn } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: min });
  await within(authn.whenReady(), 10_000, 'the key set to load');
  const tokens = await Promise.all(Array.from({ length: 100 }, (_, i) => issuer.sign(stranger, { email: `x${i}@example.com` })));
  const started = performance.now();
  // Ten waves of ten concurrent requests, as a client retrying in parallel would send them.
  for (let wave = 0; wave < 10; wave++) {
    const results = await Promise.all(tokens.slice(wave * 10, wave * 10 + 10).map((tok) => outcome(authn, tok)));
    t.same(new Set(results.map((o) => o.code)), new Set(['AUTHN_INVALID_TOKEN']), `wave ${wave}: refused`);
    await sleep(20);
  }
  const elapsed = performance.now() - started;
  const fetches = issuer.jwksFetches - 1;
  const bound = Math.floor(elapsed / min) + 1; // fetch starts are at least `min` apart
  t.ok(fetches <= bound, `100 unknown-kid requests over ${Math.round(elapsed)} ms: ${fetches} fetches (bound ${bound})`);
  t.comment(`measured: ${fetches} JWKS fetches for 100 unknown-kid requests over ${Math.round(elapsed)} ms (bound ${bound})`);
});
