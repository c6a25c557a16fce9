/**
 * Attacks on the request path found in review, each reproduced byte for byte: request smuggling through
 * body framing, Expect: 100-continue, request targets the API server would read differently, refused
 * upgrades holding descriptors, an upstream with an invalid status line, unparsable requests.
 * The API server speaks HTTP/1.1 here: smuggling and status lines are attacks on HTTP/1.1 framing on the
 * shared upstream connections (HTTP/2 frames every request and response itself).
 */
import t from 'tap';
import { startHarness, SA_TOKEN } from '../support/harness.js';
import { head, openTls, rawExchange, startExtraKubegate, within } from '../support/streaming.js';

t.test('hardening', async (t) => {
  const h = await startHarness({ upstream: 'http1' });
  t.teardown(() => h.close());
  const token = await h.issuer.mintIdToken({ sub: 'alice', claims: { email: 'alice@example.com', email_verified: true, groups: ['dev'] } });
  const smuggled = 'GET /api/v1/namespaces/kube-system/secrets HTTP/1.1\r\nHost: x\r\nImpersonate-User: system:admin\r\nImpersonate-Group: system:masters\r\n\r\n';
  const chunked = (body: string) => `${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`;

  for (const method of ['DELETE', 'OPTIONS', 'GET']) {
    t.test(`${method} with a chunked body cannot smuggle a second request upstream`, async (t) => {
      let body = '';
      h.fake.route(method, '/api/v1/namespaces/default/pods/x', (req, res) => {
        req.setEncoding('utf8');
        req.on('data', (c: string) => (body += c));
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 2 });
          res.end('{}');
        });
      });
      const before = h.fake.requests.length;
      const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([`${method} /api/v1/namespaces/default/pods/x HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Transfer-Encoding: chunked']) + chunked(smuggled));
      await ex.waitFor((b) => /\r\n\r\n\{\}$/.test(b.toString()), 'the answer to the request');
      // One more request on the same pooled upstream connection: a smuggled request would be answered here.
      const after = await h.send('/version', { headers: [['Authorization', `Bearer ${token}`]] });
      t.equal(after.status, 200);
      const seen = h.fake.requests.slice(before);
      t.same(seen.map((q) => `${q.method} ${q.url}`), [`${method} /api/v1/namespaces/default/pods/x`, 'GET /version'], 'exactly the two requests');
      t.equal(body, smuggled, 'the body arrived as the body');
      ex.socket.destroy();
    });
  }

  t.test('Expect: 100-continue is not forwarded, and a disconnect still ends the upstream watch', async (t) => {
    let upstreamClosed!: () => void;
    const closed = new Promise<void>((resolve) => (upstreamClosed = resolve));
    let sawExpect: string[] = [];
    h.fake.route('GET', '/api/v1/namespaces/default/configmaps', (req, res, rec) => {
      sawExpect = rec.all('expect');
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.write('{"type":"ADDED","object":{}}\n');
      res.on('close', () => upstreamClosed());
    });
    const ex = await rawExchange(h.kubegate.port, h.pki.ca, head(['GET /api/v1/namespaces/default/configmaps?watch=1 HTTP/1.1', 'Host: x', `Authorization: Bearer ${token}`, 'Expect: 100-continue']));
    await ex.waitFor((b) => b.includes('"ADDED"'), 'the first watch event');
    t.same(sawExpect, []);
    ex.socket.destroy();
    await within(closed, 10_000, 'the upstream watch to close after the client left');
    t.pass('upstream watch closed');
  });

  t.test('the API server receives the request target kubegate audited, byte for byte', async (t) => {
    const before = h.fake.requests.length;
    const res = await h.send('/api//v1/namespaces/kube-system/secrets', { headers: [['Authorization', `Bearer ${token}`]] });
    t.equal(res.status, 404, 'the fake has no such route');
    t.equal(h.fake.requests[before]?.url, '/api//v1/namespaces/kube-system/secrets', 'no // collapsing');
  });

  for (const [name, target] of [['a fragment', '/api/v1/namespaces/default/configmaps/x#/secrets'], ['a backslash', '/api/v1/namespaces/default/secrets\\..\\pods'], ['absolute-form', 'https://evil.example.com/api/v1/secrets']] as const) {
    t.test(`a request target with ${name} is refused with 400 before anything is forwarded`, async (t) => {
      const before = h.fake.requests.length;
      const ex = await rawExchange(h.kubegate.port, h.pki.ca, head([`GET ${target} HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: close']));
      await ex.closed;
      t.match(ex.received().toString(), /^HTTP\/1\.1 400 /);
      t.match(ex.received().toString(), /"kind":"Status"/);
      t.equal(h.fake.requests.length, before);
    });
  }

  t.test('the kubeconfig server path prefix is kept', async (t) => {
    const extra = await startExtraKubegate(h, { serverPath: '/k8s/clusters/c-1' });
    t.teardown(() => extra.close());
    const before = h.fake.requests.length;
    await extra.send('/version', { headers: [['Authorization', `Bearer ${token}`]] });
    t.equal(h.fake.requests.slice(before).find((q) => q.url !== '/k8s/clusters/c-1/readyz')?.url, '/k8s/clusters/c-1/version');
  });

  t.test('a refused upgrade does not leave the connection half-open', async (t) => {
    const socket = await openTls(h.kubegate.port, h.pki.ca);
    socket.on('error', () => {});
    const gone = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('end', () => {
      // The client keeps its side open and keeps writing: a socket kubegate still held would swallow this;
      // a destroyed one answers with a reset, which closes the client socket.
      const poke = setInterval(() => socket.write('x'), 20);
      socket.once('close', () => clearInterval(poke));
    });
    socket.allowHalfOpen = true;
    socket.resume();
    socket.write(head(['GET /api/v1/namespaces/default/pods/hello/exec HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: h2c']));
    await within(gone, 10_000, 'kubegate to drop the refused upgrade connection');
    t.pass('connection released');
  });

  t.test('an invalid status line from the API server becomes a 502, and kubegate keeps serving', async (t) => {
    h.fake.route('GET', '/api/v1/namespaces/default/weird', (req, res) => {
      req.resume();
      res.socket!.end('HTTP/1.1 099 W\x7feird\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}');
    });
    const res = await h.send('/api/v1/namespaces/default/weird', { headers: [['Authorization', `Bearer ${token}`]] });
    t.equal(res.status, 502);
    t.equal((await h.send('/healthz')).status, 200, 'still alive');
  });

  t.test('an unparsable request gets a 400 Status', async (t) => {
    const ex = await rawExchange(h.kubegate.port, h.pki.ca, head(['GET /version HTTP/1.1', 'Host: x', 'Content-Length: 1', 'Content-Length: 2']));
    await ex.closed;
    t.match(ex.received().toString(), /^HTTP\/1\.1 400 Bad Request\r\n/);
    t.match(ex.received().toString(), /"kind":"Status".*"code":400/);
  });

  t.test('nothing reached the API server without kubegate\'s credential or with a client identity', async (t) => {
    t.same(h.fake.violations, []);
    t.notOk(h.fake.requests.some((q) => q.all('impersonate-user').some((u) => u !== 'alice@example.com')));
    t.ok(h.fake.requests.every((q) => q.all('authorization').every((a) => a === `Bearer ${SA_TOKEN}`)));
  });
});
