/**
 * The issuer key set under failure (src/authn/key-set.ts through the real authenticator): an identity
 * provider whose JWKS endpoint fails, hangs or rotates keys, and clients sending tokens with unknown kids.
 * What a user notices: how many times kubegate hits the issuer, which tokens get 401, which 503, and what
 * readiness says. Small intervals keep the tests short; every bound is computed from the backoff policy
 * and the measured elapsed time, never from hoping a timer fired.
 */
import t from 'tap';
import { authenticatorFor, maxFetchesWhileFailing, outcome } from '../support/authn.js';
import { startJwksIssuer } from '../support/jwks-issuer.js';
import { eventually, sleep, within } from '../support/wait.js';

t.test('while the JWKS endpoint fails, unknown kids cause a bounded number of fetches and 401s', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  const stranger = await issuer.addKey('key-unknown', { publish: false });
  const min = 100;
  const max = 800;
  const { authn } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: min, jwksMaxBackoffMs: max });
  await within(authn.whenReady(), 10_000, 'the key set to load');
  t.equal(issuer.jwksFetches, 1, 'loaded with one fetch');
  const unknownTokens = await Promise.all(Array.from({ length: 200 }, (_, i) => issuer.sign(stranger, { email: `x${i}@example.com` })));

  issuer.setMode('fail');
  const failingFrom = performance.now();

  const concurrent = await Promise.all(unknownTokens.slice(0, 100).map((tok) => outcome(authn, tok)));
  const afterConcurrent = issuer.jwksFetches - 1;
  t.same(new Set(concurrent.map((o) => o.code)), new Set(['AUTHN_INVALID_TOKEN']), '100 concurrent unknown kids: each refused 401, none 503 (keys are loaded)');
  t.ok(concurrent.every((o) => o.details?.keySetRefresh === 'failing'), 'each refusal says the key set refresh is failing');
  t.equal(afterConcurrent, 1, '100 concurrent unknown kids: one fetch');

  // Sequential, spread over several backoff periods, so a policy that refetches once its interval has
  // passed shows it here.
  const sequential = [];
  for (const tok of unknownTokens.slice(100)) {
    sequential.push(await outcome(authn, tok));
    await sleep(10);
  }
  const elapsed = performance.now() - failingFrom;
  const fetches = issuer.jwksFetches - 1;
  const bound = maxFetchesWhileFailing(elapsed, min, max);
  t.same(new Set(sequential.map((o) => o.code)), new Set(['AUTHN_INVALID_TOKEN']), '100 sequential unknown kids: each refused 401');
  t.ok(sequential.every((o) => o.details?.keySetRefresh === 'failing'), 'each refusal says the key set refresh is failing');
  t.ok(fetches <= bound, `200 unknown-kid requests over ${Math.round(elapsed)} ms of failure: ${fetches} fetches, at most ${bound} allowed by the backoff`);
  t.comment(`measured: ${fetches} JWKS fetches for 200 unknown-kid requests over ${Math.round(elapsed)} ms (bound ${bound})`);

  t.equal((await outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }))).user, 'alice@example.com', 'a valid token still works');
  t.ok(authn.ready(), 'still ready: it can verify tokens');
  t.match(authn.keyStatus(), { ready: true, stale: true, lastError: /HTTP 500/ }, 'keyStatus says the keys are stale, and why');
});

t.test('concurrent unknown-kid requests during one fetch coalesce into it', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  await issuer.addKey('key-a');
  const { authn } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: 50 });
  await within(authn.whenReady(), 10_000, 'the key set to load');

  issuer.setMode('hold');
  const b = await issuer.addKey('key-b');
  const tokens = await Promise.all(Array.from({ length: 50 }, (_, i) => issuer.sign(b, { email: `b${i}@example.com` })));
  const results = Promise.all(tokens.map((tok) => outcome(authn, tok)));
  await within(issuer.waitForHeld(1), 10_000, 'the refetch to reach the issuer');
  // Held 4× the refetch interval: a policy that did not coalesce would start more fetches meanwhile.
  await sleep(200);
  t.equal(issuer.jwksFetches, 2, 'one refetch in flight for 50 requests');
  issuer.setMode('ok');
  issuer.release();
  const done = await within(results, 10_000, 'the requests to finish');
  t.same(done.map((o) => o.user), tokens.map((_, i) => `b${i}@example.com`), 'all 50 accepted with the rotated key');
  t.equal(issuer.jwksFetches, 2, 'no further fetch');
});

t.test('a JWKS endpoint that hangs: the fetch times out, callers get 401 then, retries follow the backoff', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  const stranger = await issuer.addKey('key-unknown', { publish: false });
  const min = 50;
  const max = 400;
  const { authn } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: min, jwksMaxBackoffMs: max, jwksFetchTimeoutMs: 200 });
  await within(authn.whenReady(), 10_000, 'the key set to load');
  const unknownTokens = await Promise.all(Array.from({ length: 30 }, (_, i) => issuer.sign(stranger, { email: `x${i}@example.com` })));
  issuer.setMode('hold');
  const started = performance.now();
  const first = await within(outcome(authn, unknownTokens[0]!), 5_000, 'the unknown-kid request to be answered');
  t.equal(first.code, 'AUTHN_INVALID_TOKEN', 'answered 401 once the fetch timed out');
  t.ok(performance.now() - started < 2_000, 'within about the fetch timeout');
  t.match(authn.keyStatus(), { ready: true, stale: true, lastError: /within 200 ms/ });
  const rest = [];
  for (const tok of unknownTokens.slice(1)) {
    rest.push(await within(outcome(authn, tok), 5_000, 'an unknown-kid request to be answered'));
    await sleep(10);
  }
  const elapsed = performance.now() - started;
  t.same(new Set(rest.map((o) => o.code)), new Set(['AUTHN_INVALID_TOKEN']), 'the following unknown kids: 401 too');
  const fetches = issuer.jwksFetches - 1;
  const bound = maxFetchesWhileFailing(elapsed, min, max);
  t.ok(fetches <= bound, `${fetches} fetches (each held until its timeout) over ${Math.round(elapsed)} ms (bound ${bound})`);
  t.equal((await outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }))).user, 'alice@example.com', 'the last good key still verifies');
  issuer.setMode('ok');
  issuer.release();
});

t.test('an outage longer than the cache age: the last good keys keep working, fetches stay bounded, recovery picks up new keys', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  const min = 50;
  const max = 400;
  const cacheMaxAge = 150;
  const { authn, logs } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: min, jwksMaxBackoffMs: max, jwksCacheMaxAgeMs: cacheMaxAge });
  await within(authn.whenReady(), 10_000, 'the key set to load');
  const before = issuer.jwksFetches;

  issuer.setMode('fail');
  const failingFrom = performance.now();

  // Ten cache ages of outage, a new (uncached) token signed by the last good key every ~30 ms.
  const results = [];
  let i = 0;
  while (performance.now() - failingFrom < 10 * cacheMaxAge) {
    results.push(await outcome(authn, await issuer.sign(a, { email: `user${i++}@example.com` })));
    await sleep(30);
  }
  const elapsed = performance.now() - failingFrom;
  const fetches = issuer.jwksFetches - before;
  const bound = maxFetchesWhileFailing(elapsed, min, max); // the first failed fetch is the periodic refresh
  const refused = results.filter((r) => r.user === undefined);
  t.equal(refused.length, 0, `${results.length} new tokens signed by the last good key, all accepted during the outage (refused: ${refused.length}, ${[...new Set(refused.map((r) => r.code))].join(', ') || 'none'})`);
  t.ok(fetches <= bound, `${fetches} fetches over ${Math.round(elapsed)} ms of outage (bound ${bound})`);
  t.ok(fetches >= 2, 'it kept retrying in the background');
  t.comment(`measured: ${fetches} JWKS fetches over ${Math.round(elapsed)} ms of outage with cacheMaxAge ${cacheMaxAge} ms (bound ${bound}); ${results.length - refused.length}/${results.length} tokens accepted`);
  t.ok(authn.ready(), 'ready: it can still verify tokens');
  t.match(authn.keyStatus(), { ready: true, stale: true, lastError: /HTTP 500/, lastRefreshAt: String });
  t.equal(logs.filter((l) => l.level === 'warn').length, 1, 'one warning at the transition to failing, not one per attempt');

  // The issuer comes back with a rotated key set: B in, A out.
  const b = await issuer.addKey('key-b', { publish: false });
  issuer.publish([b]);
  issuer.setMode('ok');
  await eventually('the background retry to recover', () => (authn.keyStatus().stale ? undefined : true), 5_000);
  t.match(authn.keyStatus(), { ready: true, stale: false, lastRefreshAt: String });
  t.notOk('lastError' in authn.keyStatus(), 'no error after recovery');
  t.equal((await outcome(authn, await issuer.sign(b, { email: 'bob@example.com' }))).user, 'bob@example.com', 'the new key is accepted');
  t.equal((await outcome(authn, await issuer.sign(a, { email: 'late@example.com' }))).code, 'AUTHN_INVALID_TOKEN', 'the removed key is gone');
  t.equal(logs.filter((l) => l.level === 'info' && /recovered/.test(l.message)).length, 1, 'one info line at recovery');
  t.equal(logs.filter((l) => l.level === 'warn').length, 1, 'still one warning');
});

t.test('no keys ever loaded: 503 and not ready, until the issuer answers', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  issuer.setMode('fail');
  const min = 50;
  const max = 200;
  const { authn, logs } = authenticatorFor(t, issuer, { jwksMinRefetchIntervalMs: min, jwksMaxBackoffMs: max });
  const from = performance.now();
  await eventually('the first key-set fetch', () => (issuer.jwksFetches > 0 ? true : undefined), 5_000);

  const results = [];
  for (let i = 0; i < 30; i++) {
    results.push(await outcome(authn, await issuer.sign(a, { email: `user${i}@example.com` })));
    await sleep(10);
  }
  const elapsed = performance.now() - from;
  t.same(new Set(results.map((r) => r.code)), new Set(['AUTHN_PROVIDER_UNAVAILABLE']), 'every valid token is answered 503, not 401');
  const bound = maxFetchesWhileFailing(elapsed, min, max);
  t.ok(issuer.jwksFetches <= bound, `${issuer.jwksFetches} fetches in ${Math.round(elapsed)} ms (bound ${bound})`);
  t.notOk(authn.ready(), 'not ready');
  t.match(authn.keyStatus(), { ready: false, stale: false, lastError: /HTTP 500/ }, 'keyStatus says no keys, and why');
  t.notOk('lastRefreshAt' in authn.keyStatus());
  t.equal(logs.filter((l) => l.level === 'warn').length, 1, 'one warning');

  issuer.setMode('ok');
  await within(authn.whenReady(), 5_000, 'the key set to load once the issuer answers');
  t.ok(authn.ready());
  t.match(authn.keyStatus(), { ready: true, stale: false, lastRefreshAt: String });
  t.equal((await outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }))).user, 'alice@example.com');
});

t.test('discovery failing: 503, not ready, keyStatus says discovery', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  issuer.setDiscoveryMode('fail');
  const { authn } = authenticatorFor(t, issuer);
  await eventually('discovery to fail', () => authn.keyStatus().lastError, 5_000);
  t.match(authn.keyStatus(), { ready: false, stale: false, lastError: /discovery/ });
  t.equal((await outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }))).code, 'AUTHN_PROVIDER_UNAVAILABLE');
  t.equal(issuer.jwksFetches, 0);
  issuer.setDiscoveryMode('ok');
  await within(authn.whenReady(), 5_000, 'discovery and the key set');
  t.equal((await outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }))).user, 'alice@example.com');
});

t.test('close() ends an in-flight fetch: a waiting request is answered at once, not after the fetch timeout', async (t) => {
  const issuer = await startJwksIssuer();
  t.teardown(() => issuer.close());
  const a = await issuer.addKey('key-a');
  issuer.setMode('hold');
  const { authn } = authenticatorFor(t, issuer); // default 5 s fetch timeout
  await within(issuer.waitForHeld(1), 5_000, 'the first key-set fetch');
  const pending = outcome(authn, await issuer.sign(a, { email: 'alice@example.com' }));
  const started = performance.now();
  authn.close();
  t.equal((await within(pending, 4_000, 'the request to be answered after close()')).code, 'AUTHN_PROVIDER_UNAVAILABLE');
  t.ok(performance.now() - started < 1_000, 'answered well before the 5 s fetch timeout');
  issuer.release();
});
