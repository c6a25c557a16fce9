/**
 * The audit trail under a policy file, end to end (real TLS, the recording fake API server, real kubectl):
 * the stages of an ordinary request, a watch and an exec session (ResponseStarted written while they
 * run), bodies captured at RequestResponse without holding the stream back, and Secret values and
 * tokens never appearing in the audit log or kubegate's own log, neither plain nor base64.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import type { AuditEvent } from '../../src/audit/event.js';
import { json } from '../support/fake-apiserver.js';
import { KUBECTL, startHarness } from '../support/harness.js';
import { eventually } from '../support/wait.js';
import { deferred, head, rawExchange, within } from '../support/streaming.js';
import { startAuditKubegate } from '../audit/audit-kubegate.js';
import { execFile } from 'node:child_process';

const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev'] };
const EXEC = '/api/v1/namespaces/default/pods/hello/exec';
const POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: None
  nonResourceURLs: ["/version", "/api", "/apis*"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets", "configmaps", "pods", "pods/exec", "serviceaccounts/token"]
  - group: authentication.k8s.io
    resources: ["tokenreviews"]
- level: Metadata
`;

const SECRET = 'hunter2-correct-horse-battery-staple';
const SECRET_B64 = Buffer.from(SECRET).toString('base64');
const TOKEN_VALUE = 'eyJhbGciOiJSUzI1NiJ9.token-under-review.signature';

function of(records: AuditEvent[], auditID: string): AuditEvent[] {
  return records.filter((e) => e.auditID === auditID);
}

t.test('audit policy, stages and bodies', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  const policyFile = join(h.pki.dir, 'policy.yaml');
  writeFileSync(policyFile, POLICY);
  const k = await startAuditKubegate(h, { policyFile, maxBodyBytes: 1024 * 1024 });
  t.teardown(() => k.close());
  const token = await h.issuer.mintIdToken({ sub: 'alice', claims: ALICE });
  const auth: [string, string][] = [['Authorization', `Bearer ${token}`]];

  t.test('an ordinary request: RequestReceived, then ResponseComplete with the response object; no ResponseStarted', async (t) => {
    const res = await k.send('/api/v1/namespaces/default/pods/hello', { headers: auth });
    t.equal(res.status, 200);
    const id = String(res.headers['audit-id']);
    const records = await eventually('both records', () => (of(k.records(), id).length === 2 ? of(k.records(), id) : undefined), 10_000);
    t.same(records.map((e) => e.stage), ['RequestReceived', 'ResponseComplete']);
    t.ok(records.every((e) => e.level === 'RequestResponse'));
    t.equal(records[0]!.responseStatus, undefined, 'nothing answered yet at RequestReceived');
    t.equal(records[0]!.user.username, 'alice@example.com', 'the mapped person');
    t.match(records[1]!.responseObject, { kind: 'Pod', metadata: { name: 'hello' } }, 'responseObject is the JSON object');
    t.equal(records[1]!.responseStatus.code, 200);
    const version = await k.send('/version', { headers: auth });
    t.equal(version.status, 200);
    // A record /version had would be in the file before one of a request made after it ended (one sink, in order).
    const after = await k.send('/api/v1/namespaces/default/pods/hello', { headers: auth });
    await eventually('the record of a request made after /version', () => (of(k.records(), String(after.headers['audit-id'])).length === 2 ? true : undefined), 10_000);
    t.equal(of(k.records(), String(version.headers['audit-id'])).length, 0, 'level None: no record at all');
  });

  t.test('a watch: ResponseStarted is written while it runs, ResponseComplete when it ends, one audit ID', async (t) => {
    const held = deferred<import('node:http').ServerResponse>();
    h.fake.route('GET', '/api/v1/namespaces/default/configmaps', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'a' } } })}\n`);
      held.resolve(res);
    });
    const firstEvent = deferred<string>();
    const ended = deferred();
    const req = request(`${k.kubegate.url}/api/v1/namespaces/default/configmaps?watch=1`, { ca: h.pki.ca, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.once('data', () => firstEvent.resolve(String(res.headers['audit-id'])));
      res.on('end', () => ended.resolve());
      res.resume();
    });
    req.end();
    const id = await within(firstEvent.promise, 10_000, 'the first watch event');
    const running = await eventually('ResponseStarted while the watch runs', () => {
      const r = of(k.records(), id);
      return r.some((e) => e.stage === 'ResponseStarted') ? r : undefined;
    }, 10_000);
    t.same(running.map((e) => e.stage), ['RequestReceived', 'ResponseStarted'], 'on record while it runs, nothing final yet');
    t.equal(running[1]!.responseStatus.code, 200);
    (await held.promise).end();
    await within(ended.promise, 10_000, 'the watch to end');
    const all = await eventually('the final record', () => (of(k.records(), id).length === 3 ? of(k.records(), id) : undefined), 10_000);
    t.same(all.map((e) => e.stage), ['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
    t.equal(all[2]!.verb, 'watch');
    t.equal(all[2]!.responseObject, undefined, 'a watch stream is never captured');
  });

  t.test('an exec session: ResponseStarted at the 101, ResponseComplete when the session ends', async (t) => {
    h.fake.upgradeRoute(EXEC, (req, socket) => {
      socket.on('error', () => {});
      socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${String(req.headers.upgrade)}\r\n\r\n`);
    });
    const ex = await rawExchange(k.kubegate.port, h.pki.ca, head([`POST ${EXEC}?command=sh HTTP/1.1`, 'Host: x', `Authorization: Bearer ${token}`, 'Connection: Upgrade', 'Upgrade: SPDY/3.1']));
    await ex.waitFor((b) => b.toString().includes('\r\n\r\n'), 'the 101');
    const id = /audit-id: ([0-9a-f-]+)/i.exec(ex.received().toString())?.[1] ?? '';
    t.match(ex.received().toString(), /^HTTP\/1\.1 101/);
    const running = await eventually('ResponseStarted during the session', () => {
      const r = of(k.records(), id);
      return r.some((e) => e.stage === 'ResponseStarted') ? r : undefined;
    }, 10_000);
    t.same(running.map((e) => [e.stage, e.responseStatus?.code]), [['RequestReceived', undefined], ['ResponseStarted', 101]]);
    ex.socket.destroy();
    const all = await eventually('the final record', () => (of(k.records(), id).length === 3 ? of(k.records(), id) : undefined), 10_000);
    t.same(all.map((e) => e.stage), ['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
    t.equal(all[2]!.annotations?.['kubegate.io/upgrade-protocol'], 'SPDY/3.1');
  });

  t.test('kubectl: a Secret created or applied is on record without its value', async (t) => {
    h.fake.route('POST', '/api/v1/namespaces/default/secrets', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        res.writeHead(201, { 'content-type': String(req.headers['content-type'] ?? 'application/json'), 'content-length': body.length });
        res.end(body);
      });
    });
    // Discovery that knows secrets, for kubectl apply.
    h.fake.route('GET', '/api/v1', (_q, res) => json(res, 200, { kind: 'APIResourceList', groupVersion: 'v1', resources: [{ name: 'secrets', singularName: 'secret', namespaced: true, kind: 'Secret', verbs: ['create', 'get', 'list', 'patch'] }] }));
    const kubeconfig = k.kubeconfigFor(token);
    const kubectl = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env: { PATH: process.env.PATH ?? '', HOME: h.pki.dir } }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr }));
      });
    // kubectl's typed client sends built-in types as protobuf: not recorded (and so never the value).
    const created = await kubectl(['create', 'secret', 'generic', 'db', `--from-literal=password=${SECRET}`]);
    t.equal(created.code, 0, `kubectl create succeeded (${created.stderr})`);
    const protobuf = await eventually('the create record', () => k.records().find((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && e.objectRef?.resource === 'secrets'), 10_000);
    t.match(protobuf.annotations?.['kubegate.io/request-object'], /not recorded: application\/vnd\.kubernetes\.protobuf/, 'the record says why there is no object');
    // kubectl apply sends JSON, with kubectl's last-applied copy of the data in an annotation.
    const manifest = join(h.pki.dir, 'secret.yaml');
    writeFileSync(manifest, `apiVersion: v1\nkind: Secret\nmetadata:\n  name: applied\n  namespace: default\nstringData:\n  password: ${SECRET}\n`);
    const applied = await kubectl(['apply', '--validate=false', '-f', manifest]);
    t.equal(applied.code, 0, `kubectl apply succeeded (${applied.stderr})`);
    const record = await eventually('the apply record', () => k.records().find((e) => e.stage === 'ResponseComplete' && e.verb === 'create' && (e.requestObject as { metadata?: { name?: string } } | undefined)?.metadata?.name === 'applied'), 10_000);
    t.match(record.requestObject, { kind: 'Secret', stringData: { password: '[redacted by kubegate]' }, metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '[redacted by kubegate]' } } }, 'the Secret, its value and kubectl\'s copy redacted');
    t.match(record.responseObject, { kind: 'Secret', stringData: { password: '[redacted by kubegate]' } });
  });

  t.test('large bodies: captured while streaming, Secrets redacted in every shape, over the limit not recorded', async (t) => {
    // A ~600 KB Secret (under the 1 MiB limit) with data, stringData and kubectl's last-applied copy.
    const data: Record<string, string> = {};
    for (let i = 0; i < 400; i++) data[`key-${i}`] = Buffer.from(`${SECRET}-${i}-${'x'.repeat(1000)}`).toString('base64');
    data.password = SECRET_B64;
    const secret = {
      kind: 'Secret', apiVersion: 'v1',
      metadata: { name: 'big', namespace: 'default', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({ data: { password: SECRET_B64 } }), team: 'db' } },
      data,
      stringData: { plain: SECRET },
    };
    const received: string[] = [];
    h.fake.route('PUT', '/api/v1/namespaces/default/secrets/big', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push(createHash('sha256').update(Buffer.concat(chunks)).digest('hex'));
        json(res, 200, secret);
      });
    });
    h.fake.route('GET', '/api/v1/namespaces/default/secrets', (req, res) => {
      req.resume();
      json(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: {}, items: [{ metadata: { name: 'a' }, data: { password: SECRET_B64 } }] });
    });
    h.fake.route('PATCH', '/api/v1/namespaces/default/secrets/big', (req, res) => {
      req.resume();
      json(res, 200, { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'big' }, data: { password: SECRET_B64 } });
    });
    h.fake.route('POST', '/apis/authentication.k8s.io/v1/tokenreviews', (req, res) => {
      req.resume();
      json(res, 201, { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: TOKEN_VALUE }, status: { authenticated: true, user: { username: 'x' } } });
    });
    h.fake.route('POST', '/api/v1/namespaces/default/serviceaccounts/default/token', (req, res) => {
      req.resume();
      json(res, 201, { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['x'] }, status: { token: TOKEN_VALUE, expirationTimestamp: '2030-01-01T00:00:00Z' } });
    });
    const body = JSON.stringify(secret);
    const jsonHeaders: [string, string][] = [...auth, ['Content-Type', 'application/json']];
    const put = await k.send('/api/v1/namespaces/default/secrets/big', { method: 'PUT', headers: jsonHeaders, body });
    t.equal(put.status, 200);
    t.same(received, [createHash('sha256').update(body).digest('hex')], 'the API server received the body byte for byte');
    t.equal((await k.send('/api/v1/namespaces/default/secrets', { headers: auth })).status, 200);
    t.equal((await k.send('/api/v1/namespaces/default/secrets/big', { method: 'PATCH', headers: [...auth, ['Content-Type', 'application/merge-patch+json']], body: JSON.stringify({ data: { password: SECRET_B64 } }) })).status, 200);
    t.equal((await k.send('/apis/authentication.k8s.io/v1/tokenreviews', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: TOKEN_VALUE } }) })).status, 201);
    t.equal((await k.send('/api/v1/namespaces/default/serviceaccounts/default/token', { method: 'POST', headers: jsonHeaders, body: JSON.stringify({ kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', spec: { audiences: ['x'] } }) })).status, 201);
    // Over the limit (a 1.5 MB ConfigMap): forwarded whole, not recorded, and the record says why.
    const huge = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'huge' }, data: { blob: 'y'.repeat(1_500_000) } });
    h.fake.route('PUT', '/api/v1/namespaces/default/configmaps/huge', (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => json(res, 200, { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'huge' }, size: Buffer.concat(chunks).length }));
    });
    t.equal((await k.send('/api/v1/namespaces/default/configmaps/huge', { method: 'PUT', headers: jsonHeaders, body: huge })).status, 200);

    // The sink writes to the file asynchronously: wait for the six final records, not only for the requests to end.
    const pick = (final: AuditEvent[]) => ({
      putRecord: final.find((e) => e.verb === 'update' && e.objectRef?.name === 'big'),
      list: final.find((e) => e.verb === 'list' && e.objectRef?.resource === 'secrets'),
      patch: final.find((e) => e.verb === 'patch'),
      review: final.find((e) => e.objectRef?.resource === 'tokenreviews'),
      tokenRequest: final.find((e) => e.objectRef?.subresource === 'token'),
      hugeRecord: final.find((e) => e.objectRef?.name === 'huge'),
    });
    const { putRecord, list, patch, review, tokenRequest, hugeRecord } = await eventually('the six final records in the file', () => {
      const found = pick(k.records().filter((e) => e.stage === 'ResponseComplete'));
      return Object.values(found).every(Boolean) ? found : undefined;
    }, 10_000);
    const req = putRecord?.requestObject as { data: Record<string, string>; stringData: Record<string, string>; metadata: { annotations: Record<string, string> } } | undefined;
    t.equal(Object.keys(req?.data ?? {}).length, 401, 'the large Secret is on record, every key');
    t.ok(Object.values(req?.data ?? {}).every((v) => v === '[redacted by kubegate]'), 'no value');
    t.same(req?.stringData, { plain: '[redacted by kubegate]' });
    t.equal(req?.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], '[redacted by kubegate]', 'kubectl\'s copy of the data too');
    t.equal(req?.metadata.annotations.team, 'db', 'other annotations kept');
    t.match(list?.responseObject, { kind: 'SecretList', items: [{ metadata: { name: 'a' }, data: { password: '[redacted by kubegate]' } }] }, 'a SecretList\'s items');
    t.equal(patch?.requestObject, undefined, 'a patch of a Secret is not recorded');
    t.match(patch?.annotations?.['kubegate.io/request-object'], /not recorded: a body of the secrets resource/);
    t.match(review?.requestObject, { spec: { token: '[redacted by kubegate]' } });
    t.match(review?.responseObject, { spec: { token: '[redacted by kubegate]' }, status: { authenticated: true } });
    t.match(tokenRequest?.responseObject, { status: { token: '[redacted by kubegate]' } });
    t.equal(hugeRecord?.requestObject, undefined);
    t.match(hugeRecord?.annotations?.['kubegate.io/request-object'], /larger than the capture limit/);
    t.match(hugeRecord?.responseObject, { size: Buffer.byteLength(huge) }, 'forwarded in full');

    const everything = k.raw() + k.logs.join('\n');
    for (const needle of [SECRET, SECRET_B64, TOKEN_VALUE, Buffer.from(TOKEN_VALUE).toString('base64'), token]) {
      t.notOk(everything.includes(needle), `neither the audit log nor kubegate's log contains ${needle.slice(0, 12)}…`);
    }
    t.ok(k.raw().endsWith('\n'), 'the log ends with a newline');
  });

  t.test('a captured request body streams through: the API server sees the first part before the client sends the rest', async (t) => {
    const firstPart = deferred();
    const done = deferred<string>();
    h.fake.route('PUT', '/api/v1/namespaces/default/configmaps/streamed', (req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (c: string) => {
        body += c;
        if (body.includes('"part-one"')) firstPart.resolve();
      });
      req.on('end', () => {
        done.resolve(body);
        json(res, 200, JSON.parse(body));
      });
    });
    const status = new Promise<number>((resolve, reject) => {
      const req = request(`${k.kubegate.url}/api/v1/namespaces/default/configmaps/streamed`, { method: 'PUT', ca: h.pki.ca, agent: false, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write('{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"streamed"},"data":{"a":"part-one",');
      // The rest only once the API server has the first part: a tap that buffered would hang here.
      void within(firstPart.promise, 10_000, 'the first part to reach the API server').then(() => req.end('"b":"part-two"}}'));
    });
    t.equal(await status, 200);
    t.match(JSON.parse(await done.promise), { data: { a: 'part-one', b: 'part-two' } });
    const record = await eventually('the record', () => k.records().find((e) => e.stage === 'ResponseComplete' && e.objectRef?.name === 'streamed'), 10_000);
    t.match(record.requestObject, { data: { a: 'part-one', b: 'part-two' } }, 'and the whole body is on record');
  });
});
