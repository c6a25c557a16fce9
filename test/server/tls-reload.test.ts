/**
 * Serving certificate reload (src/server/tls.ts): kubegate re-reads its cert/key files when they change.
 * New connections get the new pair, an open keep-alive connection keeps working, and a half-written
 * pair (cert from one pair, key from another) is ignored until both files match again.
 *
 * kubegate is started here (test/support/own-kubegate.ts, modelled on harness.ts) because the test has
 * to rewrite the very files kubegate was started with.
 */
import t from 'tap';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfigYaml, SA_TOKEN } from '../support/harness.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { fingerprintOf, openKeepAlive, servedFingerprint } from '../support/keepalive-client.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { eventually, startOwnKubegate } from '../support/own-kubegate.js';
import { createPki } from '../support/pki.js';

/** Cap for every "eventually": the watcher polls every second, so this is generous. */
const CAP_MS = 15_000;

/** Replace a file in one step (write aside, rename over), so a poller never sees it half-written. */
function replaceAtomically(path: string, content: string): void {
  const aside = `${path}.tmp-${process.pid}`;
  writeFileSync(aside, content);
  renameSync(aside, path);
}

t.test('serving certificate reload', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const issuer = await startTestIssuer({ pki });
  t.teardown(() => issuer.close());
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
  t.teardown(() => fake.close());
  const upstreamKubeconfig = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const k = await startOwnKubegate({ pki, issuer, upstreamKubeconfig });
  t.teardown(() => k.close());
  const port = k.kubegate.port;

  const original = fingerprintOf(k.serving.cert);
  t.equal(await servedFingerprint(port, pki.ca), original, 'a new connection is served the start-up certificate');

  // One connection held open for the whole test, with a keep-alive request on it.
  const old = await openKeepAlive(port, pki.ca);
  t.teardown(() => old.destroy());
  t.equal(old.fingerprint, original);
  const first = await old.get('/healthz');
  t.equal(first.status, 200);
  t.equal(first.body, 'ok');
  t.not(first.headers.connection, 'close', 'the server keeps the connection open');

  // Node closes idle keep-alive connections after 5 s (server.keepAliveTimeout): the polls below send a
  // request on the old connection in every round, so it is never idle long enough for that to apply.
  // Any close observed here is therefore caused by the reload.
  const keepBusy = async () => {
    const r = await old.get('/healthz');
    if (r.status !== 200) throw new Error(`old connection answered ${r.status}`);
  };

  await t.test('rewriting the files in place: new connections get the new pair, the open one keeps working', async (t) => {
    const next = pki.server();
    const nextFp = fingerprintOf(next.cert);
    t.not(nextFp, original, 'the new pair really is a different certificate');
    // In place, cert first: for a moment the files hold the new cert with the old key.
    writeFileSync(k.serving.certFile, next.cert);
    writeFileSync(k.serving.keyFile, next.key);

    const seen = await eventually(
      'new connections to present the new certificate',
      async () => {
        await keepBusy();
        const fp = await servedFingerprint(port, pki.ca);
        return fp === nextFp ? fp : undefined;
      },
      CAP_MS,
      200,
    );
    t.equal(seen, nextFp, 'new connections present the new certificate');
    t.ok(k.logs.some((l) => l.message === 'serving certificate reloaded'), 'the reload was logged');

    const fresh = await k.send('/healthz');
    t.equal(fresh.status, 200, 'a new connection is served a full request');
    t.notOk(old.closed, 'the old connection was not dropped');
    const again = await old.get('/healthz');
    t.equal(again.status, 200, 'the old connection still serves requests');
    t.equal(again.body, 'ok');

    await t.test('a half-written pair (cert replaced, key from another pair) is ignored until the files match again', async (t) => {
      const third = pki.server();
      const stray = pki.server();
      const warnsBefore = k.logs.filter((l) => l.level === 'warn').length;
      replaceAtomically(k.serving.certFile, third.cert);
      replaceAtomically(k.serving.keyFile, stray.key);
      // Each file's watcher fires at least once for its replacement and each such reload reads the
      // mismatched pair, so two new warnings mean both changes were seen and refused.
      await eventually(
        'kubegate to notice both changed files',
        async () => {
          await keepBusy();
          return k.logs.filter((l) => l.level === 'warn').length >= warnsBefore + 2 ? true : undefined;
        },
        CAP_MS,
      );
      t.match(k.logs.filter((l) => l.level === 'warn').at(-1), { message: /keeping the previous one/ });
      t.equal(await servedFingerprint(port, pki.ca), nextFp, 'new connections are still served the previous certificate');
      const during = await k.send('/healthz');
      t.equal(during.status, 200, 'new connections keep working');
      t.equal((await old.get('/healthz')).status, 200, 'the old connection keeps working');

      // Completing the pair is picked up: the half-written state was ignored, not the watcher stopped.
      replaceAtomically(k.serving.keyFile, third.key);
      const thirdFp = fingerprintOf(third.cert);
      await eventually(
        'the completed pair to be served',
        async () => {
          await keepBusy();
          return (await servedFingerprint(port, pki.ca)) === thirdFp ? true : undefined;
        },
        CAP_MS,
        200,
      );
      t.pass('once both files match, new connections get that pair');
      t.notOk(old.closed, 'the first connection survived every reload');
      t.equal((await old.get('/healthz')).status, 200);
    });
  });
});
