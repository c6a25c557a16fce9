/**
 * End to end through real kubectl and raw TLS sockets: authentication outcomes, what reaches the API
 * server (recorded by the fake), error bodies kubectl can decode, health endpoints.
 */
import t from 'tap';
import { connect } from 'node:tls';
import { startHarness, SA_TOKEN, TEST_LISTENER, TEST_UPSTREAM, type Harness } from '../support/harness.js';
import { eventually } from '../support/own-kubegate.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'] };

/** Write a request byte for byte (header case and repeats preserved) and return the raw response. */
function rawRequest(h: Harness, head: string[], body = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: h.kubegate.port, ca: h.pki.ca, servername: 'localhost' }, () => {
      socket.write([...head, `Content-Length: ${Buffer.byteLength(body)}`, '', body].join('\r\n'));
    });
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    socket.on('error', reject);
  });
}

/** The cluster's front proxy uses its own requestheader names too (kube-apiserver --requestheader-*). */
const FRONT_PROXY = { requestHeader: { usernameHeaders: ['X-Front-User'], groupHeaders: ['X-Front-Group'], extraHeadersPrefixes: ['X-Front-Extra-'] } };

t.test('request path', async (t) => {
  const h = await startHarness({ config: { impersonation: FRONT_PROXY } });
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });

  t.test('kubectl auth whoami shows the mapped identity, sent as kubegate', async (t) => {
    const before = h.fake.requests.length;
    const r = await h.kubectl(['auth', 'whoami', '-o', 'json'], alice);
    t.equal(r.code, 0, r.stderr);
    const review = JSON.parse(r.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
    t.equal(review.status.userInfo.username, 'alice@example.com');
    t.same(review.status.userInfo.groups, ['dev', 'ops', 'system:authenticated']);
    const seen = h.fake.requests.slice(before).find((q) => q.url.includes('selfsubjectreviews'));
    t.ok(seen, 'the API server received the review');
    t.same(seen!.all('authorization'), [`Bearer ${SA_TOKEN}`], 'only kubegate\'s own credential');
    t.same(seen!.all('impersonate-user'), ['alice@example.com']);
    t.same(seen!.all('impersonate-group'), ['dev', 'ops'], 'one Impersonate-Group per group');
    t.same(seen!.all('x-forwarded-for'), ['127.0.0.1']);
    t.match(seen!.all('audit-id')[0], /^[0-9a-f-]{36}$/);
  });

  t.test('kubectl get pods works through kubegate', async (t) => {
    const r = await h.kubectl(['get', 'pods', '-o', 'name'], alice);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), 'pod/hello');
  });

  t.test('a request without a token is refused with a 401 Status; nothing forwarded', async (t) => {
    const before = h.fake.requests.length;
    const res = await h.send('/api/v1/namespaces/default/pods');
    t.equal(res.status, 401);
    t.match(JSON.parse(res.body), { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' });
    t.equal(h.fake.requests.length, before);
  });

  t.test('kubectl with a bad token reports Unauthorized (it decoded the Status)', async (t) => {
    const before = h.fake.requests.length;
    const r = await h.kubectl(['get', 'pods'], alice.slice(0, -4) + 'AAAA');
    t.not(r.code, 0);
    t.match(r.stderr, /You must be logged in to the server \(Unauthorized\)/);
    t.equal(h.fake.requests.length, before);
  });

  const now = Math.floor(Date.now() / 1000);
  const good = { iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'mallory', email: 'mallory@example.com', iat: now, exp: now + 600 };
  const badTokens: Record<string, () => Promise<string>> = {
    'forged signature': () => h.issuer.forge(good),
    expired: () => h.issuer.signWithProviderKey({ ...good, iat: now - 7200, exp: now - 3600 }),
    'not yet valid': () => h.issuer.signWithProviderKey({ ...good, nbf: now + 3600 }),
    'issued in the future': () => h.issuer.signWithProviderKey({ ...good, iat: now + 3600, exp: now + 7200 }),
    'wrong audience': () => h.issuer.signWithProviderKey({ ...good, aud: 'someone-else' }),
    'wrong issuer': () => h.issuer.signWithProviderKey({ ...good, iss: 'https://evil.example.com' }),
    'no exp': () => h.issuer.signWithProviderKey({ ...good, exp: undefined }),
    'algorithm not allowed (PS256)': () => h.issuer.signWithProviderKey(good, { alg: 'PS256' }),
    'alg none': async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64(good)}.`,
    'not a JWT': async () => 'opaque-token',
  };
  for (const [name, make] of Object.entries(badTokens)) {
    t.test(`${name} → 401 Status, nothing forwarded`, async (t) => {
      const token = await make();
      const before = h.fake.requests.length;
      const res = await h.send('/api/v1/namespaces/default/pods', { headers: [['Authorization', `Bearer ${token}`]] });
      t.equal(res.status, 401);
      t.match(JSON.parse(res.body), { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 401, reason: 'Unauthorized' });
      t.equal(h.fake.requests.length, before, 'nothing reached the API server');
    });
  }

  t.test('two Authorization headers → 401', async (t) => {
    const before = h.fake.requests.length;
    const res = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`], ['authorization', 'Bearer other']] });
    t.equal(res.status, 401);
    t.equal(h.fake.requests.length, before);
  });

  t.test('the bearer-token subprotocol is no credential on a plain request → 401, nothing forwarded', async (t) => {
    const before = h.fake.requests.length;
    const protocol = `base64url.bearer.authorization.k8s.io.${Buffer.from(alice).toString('base64url')}`;
    const res = await h.send('/api/v1/namespaces/default/pods', { headers: [['Sec-WebSocket-Protocol', protocol]] });
    t.equal(res.status, 401, 'kube-apiserver reads it only on a WebSocket upgrade; so does kubegate');
    t.equal(h.fake.requests.length, before);
  });

  t.test('malformed client impersonation in any case or count is refused with 400, nothing forwarded', async (t) => {
    for (const lines of [
      ['Impersonate-User: admin', 'impersonate-user: root'],
      ['IMPERSONATE-GROUP: system:masters'],
      ['Impersonate-Uid: 0'],
      ['impersonate-extra-scopes: everything'],
      ['Impersonate-User: ', 'Connection: Impersonate-User'],
    ]) {
      const before = h.fake.requests.length;
      const response = await rawRequest(h, ['GET /api/v1/namespaces/default/pods HTTP/1.1', 'Host: x', `Authorization: Bearer ${alice}`, ...lines, 'Connection: close']);
      t.match(response, /^HTTP\/1\.1 400 /, lines.join(' + '));
      t.equal(h.fake.requests.length, before, 'nothing forwarded');
    }
  });

  t.test('client X-Remote-*, Authorization and forwarding headers never reach the API server, whatever case, count or Connection', async (t) => {
    const before = h.fake.requests.length;
    const response = await rawRequest(h, [
      'POST /apis/authentication.k8s.io/v1/selfsubjectreviews HTTP/1.1',
      'Host: kubegate',
      `authorization: Bearer ${alice}`,
      'X-Remote-User: admin',
      'x-remote-user: root',
      'X-REMOTE-GROUP: system:masters',
      'X-Remote-Group: cluster-admins',
      'X-Remote-Uid: 0',
      'x-remote-extra-scopes: everything',
      'X-Remote-Extra-Example.com%2Fscopes: everything',
      'X-Front-User: admin',
      'x-front-group: system:masters',
      'X-FRONT-EXTRA-Scopes: everything',
      'X-Forwarded-For: 10.0.0.1',
      'X-Real-Ip: 10.0.0.2',
      'Audit-ID: chosen-by-client',
      'Connection: close, Authorization, Audit-Id, X-Forwarded-For, X-Remote-User, X-Front-User',
      'Content-Type: application/json',
    ], '{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1"}');
    t.match(response, /^HTTP\/1\.1 201/);
    const seen = h.fake.requests.slice(before);
    t.equal(seen.length, 1);
    const got = seen[0]!;
    t.same(got.all('impersonate-user'), ['alice@example.com']);
    t.same(got.all('impersonate-group'), ['dev', 'ops']);
    t.same(got.all('impersonate-uid'), []);
    t.same(got.rawHeaders.filter(([n]) => /^impersonate-extra-/i.test(n)), []);
    t.same(got.rawHeaders.filter(([n]) => /^x-(remote|front)-/i.test(n)), [], 'no requestheader header, default or configured');
    t.same(got.all('authorization'), [`Bearer ${SA_TOKEN}`]);
    t.same(got.all('x-forwarded-for'), ['127.0.0.1']);
    t.same(got.all('x-real-ip'), []);
    t.not(got.all('audit-id')[0], 'chosen-by-client');
    t.match(response, /"username":"alice@example.com"/);
  });

  t.test('a refused request carrying identity headers: 401, nothing forwarded (names audited below)', async (t) => {
    const before = h.fake.requests.length;
    const res = await h.send('/api/v1/namespaces/default/pods', {
      headers: [['X-Remote-User', 'admin'], ['X-Front-Group', 'system:masters'], ['Impersonate-User', 'admin']],
    });
    t.equal(res.status, 401);
    t.equal(h.fake.requests.length, before);
  });

  t.test('an identity provider cannot mint system: names', async (t) => {
    const token = await h.issuer.mintIdToken({ sub: 'eve', claims: { email: 'eve@example.com', email_verified: true, groups: ['system:masters'] } });
    const before = h.fake.requests.length;
    const r = await h.kubectl(['get', '--raw', '/version'], token);
    t.not(r.code, 0);
    t.match(r.stderr, /Forbidden|forbidden/);
    t.equal(h.fake.requests.length, before);
  });

  t.test('unverified email is refused', async (t) => {
    const token = await h.issuer.mintIdToken({ sub: 'bob', claims: { email: 'bob@example.com', email_verified: false } });
    const res = await h.send('/version', { headers: [['Authorization', `Bearer ${token}`]] });
    t.equal(res.status, 401);
  });

  t.test('health endpoints answer without authentication and are never proxied', async (t) => {
    const before = h.fake.requests.filter((q) => q.url !== '/readyz').length;
    for (const path of ['/healthz', '/livez', '/readyz']) {
      const res = await h.send(path);
      t.equal(res.status, 200, path);
      t.equal(res.body, 'ok');
    }
    t.equal(h.fake.requests.filter((q) => q.url !== '/readyz').length, before);
    t.notOk(h.fake.requests.some((q) => q.url === '/healthz' || q.url === '/livez'));
  });

  t.test('every response carries the audit ID the API server saw', async (t) => {
    const before = h.fake.requests.length;
    const res = await h.send('/version', { headers: [['Authorization', `Bearer ${alice}`]] });
    t.equal(res.status, 200);
    t.equal(h.fake.requests[before]!.all('audit-id')[0], res.headers['audit-id']);
  });

  t.test('no request reached the API server without kubegate\'s credential and an Impersonate-User', async (t) => {
    t.same(h.fake.violations, []);
    t.ok(h.fake.requests.length > 5);
  });

  t.test('audit: one record per request, the person and the impersonated user, no token anywhere', async (t) => {
    const forwarded = h.fake.requests.filter((q) => q.url !== '/readyz');
    const records = await h.stopAndReadAudit();
    const fwdRecords = records.filter((r) => r.impersonatedUser !== undefined && r.responseStatus.code < 400);
    t.equal(fwdRecords.length, forwarded.length, 'one record per forwarded request');
    t.same(new Set(fwdRecords.map((r) => r.auditID)), new Set(forwarded.map((q) => q.all('audit-id')[0])), 'records share the upstream audit IDs');
    const list = records.find((r) => r.requestURI.startsWith('/api/v1/namespaces/default/pods') && r.impersonatedUser);
    t.match(list, {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      stage: 'ResponseComplete',
      verb: 'list',
      user: { username: 'alice@example.com', groups: ['dev', 'ops'] },
      impersonatedUser: { username: 'alice@example.com' },
      sourceIPs: ['127.0.0.1'],
      objectRef: { resource: 'pods', namespace: 'default', apiVersion: 'v1' },
      responseStatus: { code: 200 },
    });
    t.match(list!.userAgent, /kubectl/);
    t.equal(list!.annotations?.['kubegate.io/client-http-version'], TEST_LISTENER === 'h2' ? '2.0' : '1.1', `kubectl spoke ${TEST_LISTENER === 'h2' ? 'HTTP/2 (offered by ALPN)' : 'HTTP/1.1 (the only protocol offered)'}`);
    const refused = records.filter((r) => r.responseStatus.code === 401);
    t.ok(refused.length >= Object.keys(badTokens).length + 2, 'failed authentications are audited too');
    t.ok(refused.every((r) => r.annotations?.['kubegate.io/error']?.startsWith('AUTHN_')));
    const stripped = records.find((r) => r.annotations?.['kubegate.io/stripped-impersonation-headers']);
    t.match(stripped?.annotations?.['kubegate.io/stripped-impersonation-headers'], /impersonate-user/);
    const forwardedStripped = records.find((r) => r.responseStatus.code === 201 && r.annotations?.['kubegate.io/stripped-requestheader-headers']);
    t.strictSame(
      forwardedStripped?.annotations?.['kubegate.io/stripped-requestheader-headers']?.split(',').sort(),
      ['x-front-extra-scopes', 'x-front-group', 'x-front-user', 'x-remote-extra-example.com%2fscopes', 'x-remote-extra-scopes', 'x-remote-group', 'x-remote-uid', 'x-remote-user'],
      'a forwarded request\'s stripped requestheader names are audited',
    );
    const refusedStripped = records.find((r) => r.responseStatus.code === 401 && r.annotations?.['kubegate.io/stripped-requestheader-headers']);
    t.match(refusedStripped?.annotations, {
      'kubegate.io/error': 'AUTHN_MISSING_TOKEN',
      'kubegate.io/stripped-requestheader-headers': 'x-remote-user,x-front-group',
      'kubegate.io/stripped-impersonation-headers': 'impersonate-user',
    }, 'so are a refused request\'s');
    const everything = records.map((r) => JSON.stringify(r)).join('\n') + h.logs.join('\n');
    for (const secret of [alice, SA_TOKEN, alice.split('.')[2]!]) t.notOk(everything.includes(secret), 'no token in audit or logs');
  });
});

t.test('upstream down → 503 Status; recovers without a restart', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const token = await h.issuer.mintIdToken({ sub: 'u', claims: ALICE });
  const auth: [string, string][] = [['Authorization', `Bearer ${token}`]];
  t.equal((await h.send('/version', { headers: auth })).status, 200);
  const port = h.fake.port;
  await h.fake.close();
  const down = await h.send('/version', { headers: auth });
  t.equal(down.status, 503);
  t.match(JSON.parse(down.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable' });
  t.equal((await h.send('/readyz')).status, 503, 'not ready while the API server is down');
  const r = await h.kubectl(['get', '--raw', '/version'], token);
  t.not(r.code, 0);
  t.match(r.stderr, /unreachable|ServiceUnavailable|503/i, 'kubectl shows the Status message');
  const { startFakeApiServer } = await import('../support/fake-apiserver.js');
  const back = await startFakeApiServer({ serving: h.pki.server(), expectedToken: SA_TOKEN, port, http2: TEST_UPSTREAM === 'http2' });
  t.teardown(() => back.close());
  t.equal((await h.send('/version', { headers: auth })).status, 200, 'recovered');
  // /readyz reuses the probe's answer for up to a second (upstream.probe): ready again once that has passed.
  await eventually('/readyz to answer 200 again', async () => ((await h.send('/readyz')).status === 200 ? true : undefined), 10_000, 100);
  t.pass('ready again');
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
