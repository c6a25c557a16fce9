/**
 * Slow and greedy clients, through the real listener: a connection that never sends a request and one
 * that sends half a request head are closed after the head timeout, a connection over the per-address cap
 * is closed at once, and none of it cuts a watch or an exec session that is older than every timeout.
 *
 * No sleeps: "older than the timeouts" is proven by events. The watch and the session are opened first;
 * then an idle connection is opened and kubegate closes it after the head timeout, so by then the watch
 * and the session have lived longer than that timeout (and the request timeout, which equals it here).
 */
import t from 'tap';
import { scrape, value } from '../support/metrics.js';
import { startHarness } from '../support/harness.js';
import { deferred, head, openTls, rawExchange, startExtraKubegate, within } from '../support/streaming.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev'] };
const WATCH = '/api/v1/namespaces/default/configmaps';
const EXEC = '/api/v1/namespaces/default/pods/hello/exec';

t.test('slow clients', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const k = await startExtraKubegate(h, { security: { connections: { headersTimeoutSeconds: 1, requestTimeoutSeconds: 1, maxPerAddress: 4 } } });
  t.teardown(() => k.close());
  const port = k.kubegate.port;

  // The fake's watch emits an event whenever the test asks.
  const emit = new Set<(line: string) => void>();
  h.fake.route('GET', WATCH, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const send = (line: string) => res.write(`${line}\n`);
    emit.add(send);
    res.on('close', () => emit.delete(send));
    send('{"type":"ADDED","object":{"metadata":{"name":"first"}}}');
  });
  h.fake.upgradeRoute(EXEC, (_req, socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n\r\n');
    socket.on('data', (c: Buffer) => socket.write(c)); // echo
  });

  const watch = await rawExchange(port, h.pki.ca, head([`GET ${WATCH}?watch=1 HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${alice}`]));
  await watch.waitFor((b) => b.includes('"first"'), 'the first watch event');
  const exec = await rawExchange(port, h.pki.ca, head([`POST ${EXEC}?command=cat HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${alice}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1']));
  await exec.waitFor((b) => b.includes('\r\n\r\n'), 'the 101');
  t.match(exec.received().toString('latin1'), /^HTTP\/1\.1 101 /);

  t.test('a connection that never sends a request, and one that sends half a head, are closed after the head timeout', async (t) => {
    const idle = await openTls(port, h.pki.ca);
    idle.on('error', () => {});
    const partial = await rawExchange(port, h.pki.ca, `GET ${WATCH} HTTP/1.1\r\nHost: localhost\r\n`);
    await within(new Promise<void>((resolve) => idle.once('close', () => resolve())), 10_000, 'kubegate to close the idle connection');
    await within(partial.closed, 10_000, 'kubegate to close the half-sent request');
    t.pass('both closed by kubegate');
  });

  t.test('the watch and the exec session opened before are still alive and streaming', async (t) => {
    t.equal(emit.size, 1, 'the upstream watch is still open');
    for (const send of emit) send('{"type":"MODIFIED","object":{"metadata":{"name":"later"}}}');
    await watch.waitFor((b) => b.includes('"later"'), 'an event after the timeouts');
    const mark = exec.received().length;
    exec.socket.write('still-here');
    await exec.waitFor((b) => b.subarray(mark).toString('latin1') === 'still-here', 'the exec echo after the timeouts');
    t.pass('watch and exec outlived the head and request timeouts');
  });

  t.test('a connection over the per-address cap is closed at once; the others are unaffected', async (t) => {
    // Open now: the watch and the exec session (2). Two more fit under the cap of 4.
    const a = await openTls(port, h.pki.ca);
    const b = await openTls(port, h.pki.ca);
    const refused = await new Promise<string>((resolve) => {
      openTls(port, h.pki.ca).then(
        (s) => {
          s.on('error', () => {});
          s.once('close', () => resolve('closed after the handshake'));
        },
        (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'),
      );
    });
    t.match(refused, /ECONNRESET|EPIPE|socket disconnected|closed/, `refused (${refused})`);
    const text = await scrape(k.kubegate.metricsUrl!);
    t.equal(value(text, 'kubegate_connections_refused_total{reason="per-address"}'), 1);
    t.equal(value(text, 'kubegate_open_connections'), 4);
    a.destroy();
    b.destroy();
    const freed = deferred();
    let res: { status: number } | undefined;
    // A slot frees as soon as kubegate has seen the close: retry on refusal, never sleep.
    const attempt = (): Promise<void> => k.send('/healthz').then((r) => ((res = r), freed.resolve()), attempt);
    void attempt();
    await within(freed.promise, 10_000, 'a connection slot to free');
    t.equal(res?.status, 200);
  });

  t.teardown(() => {
    watch.socket.destroy();
    exec.socket.destroy();
  });
});
