/**
 * The hostile-input policies end to end, through the real listener to the recording fake API server:
 * failed-authentication rate limiting (with an injected clock: no test waits for a bucket to refill),
 * trusted proxies, the refusal reason in the log and the audit record, token lifetime and MFA,
 * service-account tokens, and plain HTTP on the TLS port.
 */
import t from 'tap';
import { connect } from 'node:net';
import { SignJWT } from 'jose';
import { startHarness, SA_TOKEN } from '../support/harness.js';
import { scrape, value } from '../support/metrics.js';
import { startExtraKubegate, within } from '../support/streaming.js';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev'] };
const PODS = '/api/v1/namespaces/default/pods';

t.test('security policies', async (t) => {
  let clock = 1_000_000_000;
  const h = await startHarness({
    config: { security: { authFailureLimit: { perMinute: 60, burst: 3 }, trustedProxies: ['127.0.0.1'] } },
    start: { guard: { now: () => clock } },
  });
  t.teardown(() => h.close());
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  const now = Math.floor(Date.now() / 1000);
  const good = { iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'mallory', email: 'mallory@example.com', iat: now, exp: now + 600 };
  let n = 0;
  /** A token with a forged signature, different each time (so only the address bucket links them). */
  const forged = () => h.issuer.forge({ ...good, jti: `j${n++}` });
  const from = (address: string, token: string) => h.send(PODS, { headers: [['Authorization', `Bearer ${token}`], ['X-Forwarded-For', address]] });

  t.test('failed authentications from one address: 401 until the burst is spent, then 429 with Retry-After', async (t) => {
    const before = h.fake.requests.length;
    for (let i = 0; i < 3; i++) t.equal((await from('203.0.113.1', await forged())).status, 401, `failure ${i + 1}: 401`);
    const throttled = await from('203.0.113.1', await forged());
    t.equal(throttled.status, 429);
    t.equal(throttled.headers['retry-after'], '1', 'one failure back per second at 60/min');
    t.match(JSON.parse(throttled.body), { kind: 'Status', status: 'Failure', code: 429, reason: 'TooManyRequests', details: { retryAfterSeconds: 1 } });
    t.equal(h.fake.requests.length, before, 'nothing forwarded');

    t.equal((await from('203.0.113.1', alice)).status, 200, 'a valid token from the same address is never slowed');
    t.equal((await from('203.0.113.1', alice)).status, 200);
    t.equal((await from('203.0.113.2', await forged())).status, 401, 'another address has its own bucket');

    clock += 1000;
    t.equal((await from('203.0.113.1', await forged())).status, 401, 'one second later: one failure allowed again');
    t.equal((await from('203.0.113.1', await forged())).status, 429, 'and spent');
  });

  t.test('the same bad token from many addresses is throttled by its fingerprint, without being verified again', async (t) => {
    const token = await forged();
    for (let i = 0; i < 3; i++) t.equal((await from(`198.51.100.${i + 1}`, token)).status, 401);
    const res = await from('198.51.100.200', token);
    t.equal(res.status, 429, 'a fresh address, but the token is known bad');
  });

  t.test('metrics count throttled requests and the tracked keys', async (t) => {
    const text = await scrape(h.kubegate.metricsUrl!);
    t.ok((value(text, 'kubegate_authentication_throttled_total{by="address"}') ?? 0) >= 2);
    t.ok((value(text, 'kubegate_authentication_throttled_total{by="token"}') ?? 0) >= 1);
    t.ok((value(text, 'kubegate_authentication_throttle_tracked_keys') ?? 0) > 0);
  });

  t.test('the refusal reason is in the log at info under the audit ID, and in the audit record', async (t) => {
    const expired = await h.issuer.signWithProviderKey({ ...good, iat: now - 7200, exp: now - 3600 });
    const res = await from('192.0.2.10', expired);
    t.equal(res.status, 401);
    t.equal(JSON.parse(res.body).message, 'Unauthorized', 'the client sees only the generic message');
    const auditId = res.headers['audit-id'] as string;
    const line = h.logs.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.auditID === auditId);
    t.match(line, { level: 'info', message: 'request refused', code: 'AUTHN_INVALID_TOKEN', reason: /token rejected: .*exp/, claim: 'exp' });
    t.notOk(JSON.stringify(line).includes(expired.split('.')[2]!), 'never the token');
    (h as { expiredAuditId?: string }).expiredAuditId = auditId;
  });

  t.test('a Kubernetes service-account token is refused as one', async (t) => {
    const key = new TextEncoder().encode('s'.repeat(32));
    const sa = await new SignJWT({ 'kubernetes.io': { namespace: 'default', serviceaccount: { name: 'ci', uid: 'u-1' } }, sub: 'system:serviceaccount:default:ci' })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://kubernetes.default.svc.cluster.local')
      .setAudience('https://kubernetes.default.svc.cluster.local')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(key);
    const before = h.fake.requests.length;
    const res = await from('192.0.2.20', sa);
    t.equal(res.status, 401);
    t.match(JSON.parse(res.body), { code: 401, message: /does not accept Kubernetes service-account tokens/ });
    t.equal(h.fake.requests.length, before);
  });

  t.test('audit: sourceIPs is the believed client address; throttled and refused requests are on record with their reason', async (t) => {
    const records = await h.stopAndReadAudit();
    const throttled = records.filter((r) => r.annotations?.['kubegate.io/error'] === 'AUTHN_THROTTLED');
    t.ok(throttled.length >= 3, 'every 429 is audited');
    t.equal(throttled[0]!.responseStatus.code, 429);
    t.same(throttled[0]!.sourceIPs, ['203.0.113.1'], 'the X-Forwarded-For address from the trusted proxy');
    t.match(throttled[0]!.annotations!['kubegate.io/error-reason'], /too many failed authentications from 203\.0\.113\.1; this one: token rejected/);
    const expired = records.find((r) => r.auditID === (h as { expiredAuditId?: string }).expiredAuditId);
    t.match(expired?.annotations?.['kubegate.io/error-reason'], /token rejected: .*exp/);
    const sa = records.find((r) => r.annotations?.['kubegate.io/error'] === 'AUTHN_SERVICE_ACCOUNT_TOKEN');
    t.ok(sa, 'the service-account token refusal is on record');
    const everything = records.map((r) => JSON.stringify(r)).join('\n') + h.logs.join('\n');
    for (const secret of [alice, SA_TOKEN, alice.split('.')[2]!]) t.notOk(everything.includes(secret), 'no token in audit or logs');
  });
});

t.test('token lifetime, MFA, untrusted X-Forwarded-For, plain HTTP', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const strict = await startExtraKubegate(h, { security: { maxTokenLifetime: '1h', requiredAmr: ['mfa', 'hwk'] } });
  t.teardown(() => strict.close());
  const now = Math.floor(Date.now() / 1000);
  const base = { iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'alice', email: 'alice@example.com', email_verified: true };
  const send = (k: { send: typeof strict.send }, token: string, headers: [string, string][] = []) => k.send(PODS, { headers: [['Authorization', `Bearer ${token}`], ...headers] });

  t.test('a token living longer than --max-token-lifetime is refused with 401 saying so', async (t) => {
    const long = await h.issuer.signWithProviderKey({ ...base, amr: ['mfa'], iat: now, exp: now + 7201 });
    const res = await send(strict, long);
    t.equal(res.status, 401);
    t.match(JSON.parse(res.body), { code: 401, message: /lifetime \(exp - iat\) exceeds/ });
    const noIat = await h.issuer.signWithProviderKey({ ...base, amr: ['mfa'], exp: now + 600 });
    t.equal((await send(strict, noIat)).status, 401, 'no iat: refused when a maximum is set');
    t.equal((await send({ send: h.send }, long)).status, 200, 'the default kubegate (off) accepts it');
  });

  t.test('MFA for everyone: a login without a listed amr gets 403 saying so; with one, 200', async (t) => {
    const pwd = await h.issuer.signWithProviderKey({ ...base, amr: ['pwd'], iat: now, exp: now + 600 });
    const res = await send(strict, pwd);
    t.equal(res.status, 403);
    t.match(JSON.parse(res.body), { code: 403, reason: 'Forbidden', message: /multi-factor/ });
    const before = h.fake.requests.length;
    const mfa = await h.issuer.signWithProviderKey({ ...base, amr: ['pwd', 'hwk'], iat: now, exp: now + 3600 });
    t.equal((await send(strict, mfa)).status, 200);
    t.equal(h.fake.requests.length, before + 1, 'forwarded');
    const records = await strict.stopAndReadAudit();
    t.ok(records.some((r) => r.annotations?.['kubegate.io/error'] === 'MFA_REQUIRED' && r.responseStatus.code === 403));
    t.ok(records.some((r) => r.annotations?.['kubegate.io/error'] === 'AUTHN_TOKEN_LIFETIME' && r.responseStatus.code === 401));
  });

  t.test('without trusted proxies a client\'s X-Forwarded-For is not believed, and not forwarded', async (t) => {
    const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
    const before = h.fake.requests.length;
    const res = await send({ send: h.send }, alice, [['X-Forwarded-For', '10.66.66.66']]);
    t.equal(res.status, 200);
    t.same(h.fake.requests[before]!.all('x-forwarded-for'), ['127.0.0.1'], 'the socket address goes upstream');
  });

  t.test('plain HTTP on the TLS port gets a 400 saying the port speaks HTTPS', async (t) => {
    const received = await within(
      new Promise<string>((resolve, reject) => {
        const socket = connect(h.kubegate.port, '127.0.0.1', () => socket.write('GET /api HTTP/1.1\r\nHost: localhost\r\n\r\n'));
        let text = '';
        socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
        socket.on('close', () => resolve(text));
        socket.on('error', reject);
      }),
      10_000,
      'kubegate to answer plain HTTP',
    );
    t.match(received, /^HTTP\/1\.1 400 Bad Request\r\n/);
    t.match(received, /"message":"Client sent an HTTP request to an HTTPS server\."/);
    t.equal((await h.send('/healthz')).status, 200, 'TLS still served');
    const records = await h.stopAndReadAudit();
    t.ok(records.some((r) => r.annotations?.['kubegate.io/error'] === 'REQUEST_PLAIN_HTTP' && r.responseStatus.code === 400), 'audited');
  });
});

t.test('--service-account-passthrough: TokenReview with kubegate\'s credential, then the service account is impersonated', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const reviewed: string[] = [];
  const sign = (name: string) =>
    new SignJWT({ 'kubernetes.io': { namespace: 'default', serviceaccount: { name, uid: `uid-${name}` } }, sub: `system:serviceaccount:default:${name}` })
      .setProtectedHeader({ alg: 'HS256' })
      .setIssuer('https://kubernetes.default.svc.cluster.local')
      .setIssuedAt()
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('c'.repeat(32)));
  const [ci, revoked, node] = await Promise.all([sign('ci'), sign('revoked'), sign('node-in-disguise')]);
  h.fake.ownRoute('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      const token = (JSON.parse(body) as { spec: { token: string } }).spec.token;
      reviewed.push(token);
      const status =
        token === ci
          ? { authenticated: true, user: { username: 'system:serviceaccount:default:ci', uid: 'uid-ci', groups: ['system:serviceaccounts', 'system:serviceaccounts:default', 'system:authenticated'], extra: { 'authentication.kubernetes.io/pod-name': ['ci-1'] } } }
          : token === node
            ? { authenticated: true, user: { username: 'system:node:n1', groups: ['system:nodes', 'system:authenticated'] } }
            : { authenticated: false, error: 'token has been invalidated' };
      const out = JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', status });
      res.writeHead(201, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(out) });
      res.end(out);
    });
  });
  const k = await startExtraKubegate(h, { security: { serviceAccountPassthrough: { enabled: true } } });
  t.teardown(() => k.close());
  const send = (token: string) => k.send(PODS, { headers: [['Authorization', `Bearer ${token}`]] });

  const before = h.fake.requests.length;
  t.equal((await send(ci)).status, 200);
  const seen = h.fake.requests.slice(before).find((q) => q.url === PODS);
  t.same(seen?.all('authorization'), [`Bearer ${SA_TOKEN}`], 'forwarded with kubegate\'s credential');
  t.same(seen?.all('impersonate-user'), ['system:serviceaccount:default:ci'], 'as the service account');
  t.same(seen?.all('impersonate-group'), ['system:serviceaccounts', 'system:serviceaccounts:default']);
  t.same(seen?.all('impersonate-uid'), ['uid-ci']);
  t.same(seen?.rawHeaders.filter(([n]) => /^impersonate-extra-/i.test(n)), [], 'no extra');
  t.equal((await send(ci)).status, 200);
  t.equal(reviewed.filter((x) => x === ci).length, 1, 'the answer was reused (cached briefly)');

  const refused = await send(revoked);
  t.equal(refused.status, 401, 'a token the API server rejects');
  t.equal((await send(node)).status, 401, 'a TokenReview identity that is not a service account never passes');
  t.equal(h.fake.requests.filter((q) => q.url === PODS).length - h.fake.requests.slice(0, before).filter((q) => q.url === PODS).length, 2, 'only the two good requests were forwarded');
  t.same(h.fake.violations, [], 'TokenReviews carried kubegate\'s credential and no impersonation');
  const alice = await h.issuer.mintIdToken({ sub: 'alice-sub', claims: ALICE });
  t.equal((await send(alice)).status, 200, 'OIDC tokens work as before');
});
