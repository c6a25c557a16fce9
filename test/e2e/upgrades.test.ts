/**
 * Protocol upgrades through kubegate, end to end: kubectl exec over WebSocket, a raw SPDY/3.1 session,
 * port-forward data over WebSocket, the CVE-2018-1002105 class (a non-101 answer is relayed, the client
 * connection closed and nothing pipelined behind the upgrade request ever reaches the API server),
 * refused upgrades, header hygiene on upgrades, and shutdown with a session open.
 *
 * Every wait is on an event or condition; the caps (`within`) only turn a hang into a failure.
 */
import t, { type Test } from 'tap';
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer } from 'ws';
import type { RecordedRequest } from '../support/fake-apiserver.js';
import { SA_TOKEN, startHarness, type Harness } from '../support/harness.js';
import { deferred, head, once, rawExchange, spawnKubectl, within } from '../support/streaming.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'] };
const EXEC = '/api/v1/namespaces/default/pods/hello/exec';
const PORTFORWARD = '/api/v1/namespaces/default/pods/hello/portforward';
const CHANNEL_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
const GREETING = 'spdy-bytes-sent-with-the-101';
const EARLY = 'client-bytes-sent-with-the-request';

/** A fake WebSocket endpoint: accepts the first subprotocol from `accept` the client offered. */
function webSocketEndpoint(accept: string[]) {
  return new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (offered) => accept.find((p) => offered.has(p)) ?? false,
  });
}

/** kubegate's credential, exactly one Impersonate-User (the person), their groups, no client impersonation. */
function assertImpersonatedAsAlice(t: Test, seen: RecordedRequest | undefined) {
  t.ok(seen, 'the upgrade request reached the API server');
  if (!seen) return;
  t.same(seen.all('authorization'), [`Bearer ${SA_TOKEN}`], 'only kubegate\'s own credential');
  t.same(seen.all('impersonate-user'), ['alice@example.com'], 'exactly one Impersonate-User: the person');
  t.same(seen.all('impersonate-group'), ['dev', 'ops'], 'only the person\'s groups');
  t.same(seen.all('impersonate-uid'), [], 'no client Impersonate-Uid');
  t.same(seen.rawHeaders.filter(([n]) => /^impersonate-extra-/i.test(n)), [], 'no client Impersonate-Extra-*');
}

/** The first HTTP response in raw bytes: status code, headers (lower-cased names), body (by Content-Length). */
function parseResponse(raw: Buffer) {
  const text = raw.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  const length = Number(headers['content-length'] ?? 0);
  return { status: Number(lines[0]!.split(' ')[1]), headers, body: text.slice(end + 4, end + 4 + length), rest: text.slice(end + 4 + length) };
}

const headerComplete = (raw: Buffer) => raw.includes('\r\n\r\n');
const responseComplete = (raw: Buffer) => {
  if (!headerComplete(raw)) return false;
  const { headers, body } = parseResponse(raw);
  return Buffer.byteLength(body, 'latin1') >= Number(headers['content-length'] ?? 0);
};

t.test('protocol upgrades through kubegate', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const wss = webSocketEndpoint([...CHANNEL_PROTOCOLS, 'portforward.k8s.io']);
  t.teardown(() => wss.close());
  const fakeUpgrades = () => h.fake.requests.filter((q) => q.all('upgrade').length > 0);
  // http-proxy is loaded on the first upgrade (src/proxy/upgrade.ts), not at start-up.
  const httpProxyLoaded = () => Object.keys(createRequire(import.meta.url).cache).some((file) => file.includes('/node_modules/http-proxy/'));
  t.notOk(httpProxyLoaded(), 'a started kubegate has not loaded http-proxy');

  t.test('kubectl exec over WebSocket: stdout, stderr and the exit code cross kubegate', async (t) => {
    let protocol = '';
    let upgrade = '';
    h.fake.upgradeRoute(EXEC, (req, socket, head) => {
      upgrade = req.headers.upgrade ?? '';
      if (upgrade.toLowerCase() !== 'websocket') {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        protocol = ws.protocol;
        ws.send(Buffer.concat([Buffer.from([1]), Buffer.from('hi\n')]));
        ws.send(Buffer.concat([Buffer.from([2]), Buffer.from('warn\n')]));
        const status = { metadata: {}, status: 'Failure', message: 'command terminated with non-zero exit code', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '3' }] } };
        ws.send(Buffer.concat([Buffer.from([3]), Buffer.from(JSON.stringify(status))]), () => ws.close(1000));
      });
    });
    const before = h.fake.requests.length;
    // (kubectl --as on upgrades, checked by SubjectAccessReview: test/e2e/client-impersonation.test.ts.)
    const kubectl = spawnKubectl(h, ['exec', 'hello', '--', 'echo', 'hi'], alice);
    t.teardown(() => kubectl.child.kill('SIGKILL'));
    const exit = await within(kubectl.exited, 30_000, 'kubectl exec to exit');
    t.equal(upgrade, 'websocket', 'kubectl used WebSocket (no SPDY fallback)');
    t.equal(protocol, 'v5.channel.k8s.io', 'the v5 channel protocol was negotiated');
    t.equal(exit.code, 3, `the remote exit code (stderr: ${kubectl.stderr()})`);
    t.equal(kubectl.stdout(), 'hi\n');
    t.match(kubectl.stderr(), /warn/);
    const seen = h.fake.requests.slice(before).find((q) => q.url.startsWith(EXEC));
    t.match(seen?.url, /command=echo&command=hi/);
    assertImpersonatedAsAlice(t, seen);
  });

  let spdyAuditId: string | undefined;
  t.test('raw SPDY/3.1 exec upgrade: 101, bytes both ways', async (t) => {
    const fakeClosed = deferred();
    let fakeHead: Buffer = Buffer.alloc(0);
    h.fake.upgradeRoute(EXEC, (_req, socket, head) => {
      fakeHead = head;
      // The 101 and the server's first bytes in ONE write, so they reach kubegate together (the bytes
      // after the 101 arrive as the upgrade's "head" and must not be lost).
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n${GREETING}`);
      socket.on('data', (c: Buffer) => socket.write(c));
      socket.once('close', () => fakeClosed.resolve());
    });
    const before = h.fake.requests.length;
    const ex = await rawExchange(
      h.kubegate.port,
      h.pki.ca,
      head([
        `POST ${EXEC}?command=cat&stdin=true&stdout=true HTTP/1.1`,
        'Host: localhost',
        `Authorization: Bearer ${alice}`,
        'Connection: Upgrade',
        'Upgrade: SPDY/3.1',
        'X-Stream-Protocol-Version: v4.channel.k8s.io',
        'User-Agent: raw-spdy-test',
      ]) + EARLY, // the client's first stream bytes in the same write as its request
    );
    await ex.waitFor(headerComplete, 'the upgrade answer');
    const answer = parseResponse(ex.received());
    t.equal(answer.status, 101);
    t.match(answer.headers, { upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' });
    const headerLength = ex.received().indexOf('\r\n\r\n') + 4;
    const early = GREETING.length + EARLY.length;
    await ex.waitFor((r) => r.length - headerLength >= early, 'the bytes the API server sent with its 101, then the echo of the client\'s early bytes');
    t.equal(ex.received().subarray(headerLength).toString('latin1'), GREETING + EARLY, 'the bytes sent with the 101 arrived, then the echo of the early client bytes');
    t.equal(fakeHead.length, 0, 'the client\'s early bytes were held back until the API server had answered 101');
    const payload = randomBytes(200 * 1024);
    ex.socket.write(payload);
    await ex.waitFor((r) => r.length - headerLength - early >= payload.length, 'the echo');
    t.ok(ex.received().subarray(headerLength + early).equals(payload), 'the bytes came back intact');
    const seen = h.fake.requests.slice(before).find((q) => q.url.startsWith(EXEC));
    assertImpersonatedAsAlice(t, seen);
    t.same(seen?.all('upgrade'), ['SPDY/3.1']);
    t.same(seen?.all('x-stream-protocol-version'), ['v4.channel.k8s.io']);
    spdyAuditId = seen?.all('audit-id')[0];
    t.equal(answer.headers['audit-id'], spdyAuditId, 'the 101 carries the audit ID the API server saw');
    ex.socket.end();
    await within(fakeClosed.promise, 10_000, 'the upstream session to close after the client left');
    await within(ex.closed, 10_000, 'the client connection to close');
  });

  t.test('port-forward over WebSocket: a 1 MiB payload round-trips intact', async (t) => {
    let protocol = '';
    h.fake.upgradeRoute(PORTFORWARD, (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        protocol = ws.protocol;
        ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary }));
      });
    });
    const ws = new WebSocket(`wss://127.0.0.1:${h.kubegate.port}${PORTFORWARD}?ports=80`, ['portforward.k8s.io'], { ca: h.pki.ca, headers: { Authorization: `Bearer ${alice}` }, perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    await once(ws, 'open');
    t.equal(ws.protocol, 'portforward.k8s.io');
    const payload = randomBytes(1024 * 1024);
    const got: Buffer[] = [];
    let total = 0;
    const all = deferred();
    ws.on('message', (data: Buffer) => {
      got.push(data);
      total += data.length;
      if (total >= payload.length) all.resolve();
    });
    for (let off = 0; off < payload.length; off += 64 * 1024) ws.send(payload.subarray(off, off + 64 * 1024), { binary: true });
    await within(all.promise, 20_000, 'the echoed megabyte');
    t.equal(protocol, 'portforward.k8s.io');
    t.equal(total, payload.length);
    t.ok(Buffer.concat(got).equals(payload), 'every byte came back in order');
    ws.close();
    await once(ws, 'close');
  });

  for (const [code, reason] of [
    [403, 'Forbidden'],
    [400, 'BadRequest'],
  ] as const) {
    t.test(`a ${code} answer to an upgrade is relayed, the client connection closed, and nothing behind it reaches the API server`, async (t) => {
      const path = `/api/v1/namespaces/default/pods/denied-${code}/exec`;
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `fake says ${code}`, reason, code });
      let afterAnswer: Buffer = Buffer.alloc(0);
      const fakeClosed = deferred();
      let fakeSocket: Duplex | undefined;
      h.fake.upgradeRoute(path, (_req, socket, head) => {
        fakeSocket = socket;
        afterAnswer = Buffer.from(head); // bytes that came with the upgrade request itself count too
        // Answer, then keep the connection open and record anything else that arrives on it: with the
        // sockets spliced, the pipelined request would show up here with kubegate's credential behind it.
        socket.write(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
        socket.on('data', (c: Buffer) => (afterAnswer = Buffer.concat([afterAnswer, c])));
        socket.once('close', () => fakeClosed.resolve());
      });
      const before = h.fake.requests.length;
      const ex = await rawExchange(
        h.kubegate.port,
        h.pki.ca,
        head([`GET ${path}?command=sh HTTP/1.1`, 'Host: localhost', `Authorization: Bearer ${alice}`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`, 'Sec-WebSocket-Protocol: v5.channel.k8s.io']) +
          head(['GET /api/v1/secrets HTTP/1.1', 'Host: localhost', 'Impersonate-User: system:admin', 'Impersonate-Group: system:masters']),
      );
      await within(ex.closed, 10_000, 'kubegate to close the client connection');
      await within(fakeClosed.promise, 10_000, 'the upstream connection to be closed');
      const answer = parseResponse(ex.received());
      t.equal(answer.status, code, 'the client got the API server\'s answer');
      t.equal(answer.body, body, 'with its body');
      t.equal(answer.rest, '', 'and nothing else: the pipelined request was never answered');
      t.equal(afterAnswer.length, 0, `nothing the client sent after the upgrade request reached the API server connection (got ${JSON.stringify(afterAnswer.toString('latin1'))})`);
      t.ok(fakeSocket?.destroyed, 'the upstream connection is gone (never reused)');
      const seen = h.fake.requests.slice(before);
      t.equal(answer.headers['audit-id'], seen[0]?.all('audit-id')[0], 'the relayed answer carries the audit ID the API server saw');
      t.same(seen.map((q) => q.url.split('?')[0]), [path], 'only the upgrade request reached the API server');
      t.notOk(h.fake.requests.some((q) => q.url.includes('/secrets')), 'the pipelined request never reached the API server');
    });
  }

  t.test('upgrades kubegate does not relay get a 400 Status; nothing reaches the API server', async (t) => {
    const cases: Record<string, string[]> = {
      'Upgrade: h2c': ['GET /api/v1/namespaces/default/pods HTTP/1.1', 'Connection: Upgrade, HTTP2-Settings', 'Upgrade: h2c', 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA'],
      'WebSocket on POST': [`POST ${EXEC}?command=sh HTTP/1.1`, 'Connection: Upgrade', 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`],
      'SPDY/3.1 on PUT': [`PUT ${EXEC}?command=sh HTTP/1.1`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1'],
      'Upgrade without Connection: upgrade': [`GET ${EXEC}?command=sh HTTP/1.1`, 'Upgrade: websocket', 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`],
    };
    for (const [name, lines] of Object.entries(cases)) {
      const before = h.fake.requests.length;
      const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([...lines, 'Host: localhost', `Authorization: Bearer ${alice}`, 'Content-Length: 0']));
      t.teardown(() => ex.socket.destroy());
      // Without `Connection: upgrade` Node parses an ordinary (keep-alive) request: wait for the whole answer, not the close.
      await ex.waitFor(responseComplete, `kubegate's answer (${name})`);
      const answer = parseResponse(ex.received());
      t.equal(answer.status, 400, `${name}: 400`);
      t.match(JSON.parse(answer.body || '{}'), { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 400, reason: 'BadRequest' }, `${name}: a Status body`);
      t.equal(h.fake.requests.length, before, `${name}: nothing reached the API server`);
      if (lines.some((l) => /^Connection: Upgrade/i.test(l))) await within(ex.closed, 10_000, `kubegate to close the connection after refusing (${name})`);
    }
  });

  t.test('an upgrade without a token gets a 401 Status; nothing reaches the API server', async (t) => {
    for (const upgrade of ['websocket', 'SPDY/3.1']) {
      const before = h.fake.requests.length;
      const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([`GET ${EXEC}?command=sh HTTP/1.1`, 'Host: localhost', 'Connection: Upgrade', `Upgrade: ${upgrade}`, 'Sec-WebSocket-Version: 13', `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`]));
      await within(ex.closed, 10_000, 'kubegate to answer and close');
      const answer = parseResponse(ex.received());
      t.equal(answer.status, 401, upgrade);
      t.match(JSON.parse(answer.body || '{}'), { kind: 'Status', code: 401, reason: 'Unauthorized' });
      t.equal(h.fake.requests.length, before, `${upgrade}: nothing reached the API server`);
    }
  });

  t.test('a WebSocket token in the bearer subprotocol authenticates and is not forwarded', async (t) => {
    const opened = deferred<string>();
    h.fake.upgradeRoute(EXEC, (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => {
        opened.resolve(ws.protocol);
        ws.on('message', (data: Buffer) => ws.send(data));
      });
    });
    const before = h.fake.requests.length;
    const tokenProtocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(alice).toString('base64url')}`;
    const ws = new WebSocket(`wss://127.0.0.1:${h.kubegate.port}${EXEC}?command=sh&stdin=true`, ['v5.channel.k8s.io', tokenProtocol], { ca: h.pki.ca, perMessageDeflate: false });
    t.teardown(() => ws.terminate());
    await once(ws, 'open');
    t.equal(await opened.promise, 'v5.channel.k8s.io');
    t.equal(ws.protocol, 'v5.channel.k8s.io');
    ws.send(Buffer.from([0, 0x68, 0x69]));
    const echoed = await once<Buffer>(ws, 'message');
    t.same([...echoed], [0, 0x68, 0x69], 'the session carries data');
    const seen = h.fake.requests.slice(before).find((q) => q.url.startsWith(EXEC));
    assertImpersonatedAsAlice(t, seen);
    t.same(seen?.all('sec-websocket-protocol'), ['v5.channel.k8s.io'], 'the token subprotocol did not reach the API server');
    t.notOk(seen?.rawHeaders.some(([, v]) => v.includes(alice) || v.includes(Buffer.from(alice).toString('base64url'))), 'the token is nowhere in what the API server received');
    ws.close();
    await once(ws, 'close');
  });

  t.test('malformed client impersonation on an upgrade: 400 Status, nothing reaches the API server', async (t) => {
    // (An allowed `--as` on an upgrade, and the headers then sent: test/e2e/client-impersonation.test.ts.)
    const before = h.fake.requests.length;
    const ex = await rawExchange(
      h.kubegate.port,
      h.pki.ca,
      head([
        `POST ${EXEC}?command=sh HTTP/1.1`,
        'Host: localhost',
        `Authorization: Bearer ${alice}`,
        'Impersonate-User: admin',
        'impersonate-user: root',
        'IMPERSONATE-GROUP: system:masters',
        'Impersonate-Uid: 0',
        'Impersonate-Extra-Scopes: everything',
        'Connection: Upgrade, Impersonate-User, Authorization',
        'Upgrade: SPDY/3.1',
        'X-Stream-Protocol-Version: v4.channel.k8s.io',
      ]),
    );
    await within(ex.closed, 10_000, 'kubegate to answer and close');
    t.equal(parseResponse(ex.received()).status, 400);
    t.equal(h.fake.requests.length, before, 'nothing reached the API server');
  });

  t.test('no upgrade reached the API server without kubegate\'s credential and one Impersonate-User', async (t) => {
    t.same(h.fake.violations, []);
    t.ok(fakeUpgrades().length >= 6);
  });

  t.test('audit: the SPDY session is recorded with 101, its protocol, byte counts and the upstream audit ID', async (t) => {
    const records = await within(h.stopAndReadAudit(), 20_000, 'kubegate to stop');
    const spdy = records.find((r) => r.auditID === spdyAuditId && r.stage === 'ResponseComplete');
    t.ok(spdyAuditId && spdy, 'the session has a record under the audit ID the API server saw');
    t.match(spdy, {
      verb: 'create',
      user: { username: 'alice@example.com' },
      impersonatedUser: { username: 'alice@example.com' },
      objectRef: { resource: 'pods', namespace: 'default', name: 'hello', subresource: 'exec' },
      responseStatus: { code: 101 },
      annotations: { 'kubegate.io/upgrade-protocol': 'SPDY/3.1' },
    });
    t.equal(Number(spdy?.annotations?.['kubegate.io/bytes-from-client']), EARLY.length + 200 * 1024, 'bytes from the client counted');
    t.equal(Number(spdy?.annotations?.['kubegate.io/bytes-to-client']), GREETING.length + EARLY.length + 200 * 1024, 'bytes to the client counted');
    t.ok(Number(spdy?.annotations?.['kubegate.io/session-duration-seconds']) >= 0);
    const ws = records.find((r) => r.stage === 'ResponseComplete' && r.annotations?.['kubegate.io/upgrade-protocol'] === 'websocket' && r.objectRef?.subresource === 'portforward');
    t.match(ws, { responseStatus: { code: 101 } }, 'the port-forward session is recorded');
    t.ok(Number(ws?.annotations?.['kubegate.io/bytes-from-client']) > 1024 * 1024, 'its bytes from the client include the megabyte');
    const denied = records.filter((r) => r.requestURI.includes('/denied-'));
    t.same(denied.map((r) => r.responseStatus.code).sort(), [400, 403], 'relayed non-101 answers are recorded with their status');
    const stripped = records.find((r) => r.annotations?.['kubegate.io/upgrade-protocol'] && r.annotations?.['kubegate.io/stripped-impersonation-headers']);
    t.match(stripped?.annotations?.['kubegate.io/stripped-impersonation-headers'], /impersonate-user/, 'stripped headers on an upgrade are audited');
    const all = records.map((r) => JSON.stringify(r)).join('\n');
    t.notOk(all.includes(alice) || all.includes(SA_TOKEN), 'no token in the audit records');
  });

  t.test('the upgrades loaded http-proxy', async (t) => {
    t.ok(httpProxyLoaded());
  });
});

t.test('closing kubegate with an exec session open ends the session and does not hang', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const wss = webSocketEndpoint(CHANNEL_PROTOCOLS);
  t.teardown(() => wss.close());
  const fakeSide = deferred<WebSocket>();
  h.fake.upgradeRoute(EXEC, (req: IncomingMessage, socket, head) => {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('message', (data: Buffer) => ws.send(data));
      fakeSide.resolve(ws);
    });
  });
  const ws = new WebSocket(`wss://127.0.0.1:${h.kubegate.port}${EXEC}?command=sh&stdin=true&stdout=true`, CHANNEL_PROTOCOLS, { ca: h.pki.ca, headers: { Authorization: `Bearer ${alice}` }, perMessageDeflate: false });
  t.teardown(() => ws.terminate());
  await once(ws, 'open');
  ws.send(Buffer.from([0, 0x6c, 0x73]));
  t.same([...(await once<Buffer>(ws, 'message'))], [0, 0x6c, 0x73], 'the session is live');
  const fakeWs = await fakeSide.promise;
  const fakeClosed = once(fakeWs, 'close', 15_000);
  const clientClosed = once(ws, 'close', 15_000);
  const records = await within(h.stopAndReadAudit(), 10_000, 'kubegate.close() with a session open');
  await clientClosed;
  await fakeClosed;
  t.pass('both ends of the session closed');
  const exec = records.find((r) => r.stage === 'ResponseComplete' && r.objectRef?.subresource === 'exec');
  t.match(exec, { responseStatus: { code: 101 }, annotations: { 'kubegate.io/upgrade-protocol': 'websocket' } }, 'the session was audited on the way out');
});
