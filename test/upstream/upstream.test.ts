/**
 * The API server side (src/upstream/upstream.ts): what loadUpstream refuses at start-up, the in-cluster
 * service account (and its token rotation), TLS verification of the API server (directly and end to end
 * through kubegate), client-certificate credentials, and how often /readyz's probe reaches the API server.
 *
 * client-node's FileAuth re-reads a token file at most every 60 s by the wall clock: 'a rotated token file
 * is picked up' moves the process's Date forward (clockAhead) instead of waiting for it.
 */
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubegateError } from '../../src/errors/errors.js';
import { silentLogger } from '../../src/log/logger.js';
import { DEFAULT_PROBE_CACHE_MS, loadUpstream, type Upstream, type UpstreamSettings } from '../../src/upstream/upstream.js';
import { startFakeApiServer } from '../support/fake-apiserver.js';
import { startTestIssuer } from '../support/oidc-issuer.js';
import { eventually, startOwnKubegate } from '../support/own-kubegate.js';
import { createPki, type TestPki } from '../support/pki.js';

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const TOKEN = 'kubegate-upstream-test-token-0123456789';
const log = silentLogger();

/**
 * Move this process's wall clock (`new Date()`, `Date.now()`) `ms` ahead until the test ends; timers are
 * not affected. For code that decides by the clock and takes no clock to inject (client-node's FileAuth).
 */
function clockAhead(t: Test, ms: number): void {
  const RealDate = Date;
  class AheadDate extends RealDate {
    constructor(...args: [number] | []) {
      if (args.length === 0) super(RealDate.now() + ms);
      else super(...args);
    }
    static override now(): number {
      return RealDate.now() + ms;
    }
  }
  globalThis.Date = AheadDate as DateConstructor;
  t.teardown(() => {
    globalThis.Date = RealDate;
  });
}

/** A kubeconfig with one cluster and one user; `cluster` and `user` are YAML flow mappings' contents. */
function kubeconfig(cluster: string, user: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    `  cluster: {${cluster}}`,
    'users:',
    '- name: u',
    `  user: {${user}}`,
    'contexts:',
    '- name: c',
    '  context: {cluster: c, user: u}',
    'current-context: c',
    '',
  ].join('\n');
}

function writeKubeconfig(pki: TestPki, content: string): string {
  const file = join(pki.dir, `kc-${Math.random().toString(36).slice(2)}.kubeconfig`);
  writeFileSync(file, content);
  return file;
}

/** Set (or, with undefined, unset) environment variables for this test only. */
function withEnv(t: Test, vars: Record<string, string | undefined>): void {
  const saved: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(vars)) {
    saved[name] = process.env[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  t.teardown(() => {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  });
}

/** loadUpstream that closes what it returns when the test ends. */
async function load(t: Test, s: UpstreamSettings): Promise<Upstream> {
  // No start-up probe: these tests count the probes they make (test/upstream/probe-log.test.ts covers it).
  const upstream = await loadUpstream({ probeAtStart: false, ...s }, log);
  t.teardown(() => upstream.close());
  return upstream;
}

/** Expect loadUpstream to refuse with UPSTREAM_CONFIG, without echoing the token. */
async function refused(t: Test, s: UpstreamSettings, why: RegExp): Promise<void> {
  let thrown: unknown;
  try {
    const upstream = await loadUpstream(s, log);
    upstream.close();
  } catch (err) {
    thrown = err;
  }
  t.type(thrown, KubegateError, 'refused with a KubegateError');
  t.match(thrown, { code: 'UPSTREAM_CONFIG', message: why });
  t.notOk(String((thrown as Error | undefined)?.message).includes(TOKEN), 'the error does not echo the credential');
}

/** Create `<dir>/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt,namespace}`. */
function serviceAccountDir(t: Test, ca: string, token: string): { prefix: string; tokenFile: string } {
  const prefix = mkdtempSync(join(tmpdir(), 'kubegate-sa-'));
  t.teardown(() => rmSync(prefix, { recursive: true, force: true }));
  const sa = join(prefix, 'var/run/secrets/kubernetes.io/serviceaccount');
  mkdirSync(sa, { recursive: true });
  writeFileSync(join(sa, 'token'), token);
  writeFileSync(join(sa, 'ca.crt'), ca);
  writeFileSync(join(sa, 'namespace'), 'kubegate-system');
  return { prefix, tokenFile: join(sa, 'token') };
}

t.test('start-up refuses configurations it cannot use safely', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const ca = `certificate-authority: ${JSON.stringify(pki.caFile)}`;
  const token = `token: ${JSON.stringify(TOKEN)}`;

  t.test('control: a verified https cluster with a token loads', async (t) => {
    const upstream = await load(t, { kubeconfig: writeKubeconfig(pki, kubeconfig(`server: "https://127.0.0.1:6443", ${ca}`, token)) });
    t.equal(upstream.target.origin, 'https://127.0.0.1:6443');
    t.equal(upstream.authorization(), `Bearer ${TOKEN}`);
  });

  t.test('insecure-skip-tls-verify: true', (t) =>
    refused(t, { kubeconfig: writeKubeconfig(pki, kubeconfig('server: "https://127.0.0.1:6443", insecure-skip-tls-verify: true', token)) }, /insecure-skip-tls-verify/));

  t.test('an http:// server', (t) =>
    refused(t, { kubeconfig: writeKubeconfig(pki, kubeconfig(`server: "http://127.0.0.1:8080", ${ca}`, token)) }, /https/));

  t.test('a user with no credentials', (t) =>
    refused(t, { kubeconfig: writeKubeconfig(pki, kubeconfig(`server: "https://127.0.0.1:6443", ${ca}`, '')) }, /no token or client certificate/));

  t.test('a kubeconfig file that does not exist', (t) =>
    refused(t, { kubeconfig: join(pki.dir, 'does-not-exist.kubeconfig') }, /does-not-exist\.kubeconfig|ENOENT/));

  t.test('no kubeconfig and not in a cluster (KUBERNETES_SERVICE_HOST unset)', (t) => {
    withEnv(t, { KUBERNETES_SERVICE_HOST: undefined, KUBERNETES_SERVICE_PORT: undefined });
    return refused(t, {}, /KUBERNETES_SERVICE_HOST/);
  });

  t.test('in-cluster on a plain-http port (client-node picks http:// for port 8080)', (t) => {
    const sa = serviceAccountDir(t, pki.ca, TOKEN);
    withEnv(t, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: '8080' });
    return refused(t, { inClusterPathPrefix: sa.prefix, refreshSeconds: 1 }, /https/);
  });
});

t.test('in-cluster service account', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const sa = serviceAccountDir(t, pki.ca, TOKEN);
  withEnv(t, { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(fake.port) });

  // probeCacheMs 0: each probe below asks the API server (the cache has its own test).
  const upstream = await load(t, { inClusterPathPrefix: sa.prefix, refreshSeconds: 1, probeCacheMs: 0 });
  t.equal(upstream.target.origin, fake.url, 'the target is KUBERNETES_SERVICE_HOST:PORT over https');
  t.equal(upstream.authorization(), `Bearer ${TOKEN}`, 'the service-account token is kubegate\'s credential');
  t.equal(await upstream.probe(), true, 'the API server is reachable, verified with the service-account CA');
  t.match(fake.requests.at(-1), { url: '/readyz', credentialOk: true }, 'the probe carried the token');
  t.same(fake.violations, []);

  // client-node re-reads a token file once its last read is more than 60 s old by `new Date()` (FileAuth);
  // the process's clock is moved past that instead of waiting a minute.
  t.test('a rotated token file is picked up without a restart', async (t) => {
    const rotated = 'kubegate-rotated-token-9876543210';
    writeFileSync(sa.tokenFile, `${rotated}\n`); // with the trailing newline `echo` would leave
    clockAhead(t, 61_000);
    const seen = await eventually(
      'the rotated token',
      () => (upstream.authorization() === `Bearer ${rotated}` ? true : undefined),
      10_000,
      50,
    );
    t.ok(seen, 'picked up by the next refresh once 60 s have passed');
    t.equal(upstream.authorization(), `Bearer ${rotated}`, 'trimmed, no trailing newline');
    t.equal(await upstream.probe(), false, 'an API server that still expects the old token answers 401: not ready');
  });
});

t.test('TLS to the API server is verified', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const other = createPki();
  t.teardown(() => other.cleanup());
  // The fake serves a certificate from ANOTHER CA than the one the kubeconfig names.
  const fake = await startFakeApiServer({ serving: other.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const token = `token: ${JSON.stringify(TOKEN)}`;
  const wrongCa = writeKubeconfig(pki, kubeconfig(`server: ${JSON.stringify(fake.url)}, certificate-authority: ${JSON.stringify(pki.caFile)}`, token));
  const rightCa = writeKubeconfig(pki, kubeconfig(`server: ${JSON.stringify(fake.url)}, certificate-authority: ${JSON.stringify(other.caFile)}`, token));

  t.test('probe() is false against a certificate the configured CA did not sign', async (t) => {
    const before = fake.requests.length;
    const upstream = await load(t, { kubeconfig: wrongCa });
    t.equal(await upstream.probe(), false);
    t.equal(fake.requests.length, before, 'no HTTP request reached the API server');
    const control = await load(t, { kubeconfig: rightCa });
    t.equal(await control.probe(), true, 'control: the same server with its own CA is reachable');
  });

  t.test('end to end: a valid user gets a 5xx Status and nothing reaches the API server', async (t) => {
    const issuer = await startTestIssuer({ pki });
    t.teardown(() => issuer.close());
    const k = await startOwnKubegate({ pki, issuer, upstreamKubeconfig: wrongCa });
    t.teardown(() => k.close());
    const before = fake.requests.length;
    const token = await issuer.mintIdToken({ sub: 'alice', claims: { email: 'alice@example.com', email_verified: true, groups: ['dev'] } });
    const res = await k.send('/api/v1/namespaces/default/pods', { headers: [['Authorization', `Bearer ${token}`]] });
    t.ok(res.status === 502 || res.status === 503, `502 or 503, got ${res.status}`);
    t.match(res.headers['content-type'], /^application\/json/);
    t.match(JSON.parse(res.body), { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: res.status });
    t.equal(fake.requests.length, before, 'the API server received no request');
    const refusal = k.logs.find((l) => l.message === 'request refused');
    t.match(refusal, { code: /^UPSTREAM_/, reason: /UNABLE_TO_VERIFY|CERT|certificate/i }, 'refused because the API server certificate did not verify');
    t.equal((await k.send('/readyz')).status, 503, 'not ready either');
    t.equal(fake.requests.length, before, 'still nothing reached the API server');
  });
});

t.test('client-certificate credentials', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const client = pki.client('kubegate', ['kubegate-proxies']);
  // A minimal API server stand-in that requires a client certificate signed by the CA (the recording
  // fake only knows bearer tokens). It answers /readyz with the subject it authenticated.
  const subjects: string[] = [];
  const serving = pki.server();
  const server = createServer({ cert: serving.cert, key: serving.key, ca: pki.ca, requestCert: true, rejectUnauthorized: true }, (req, res) => {
    const peer = (req.socket as TLSSocket).getPeerCertificate();
    subjects.push(`O=${String(peer.subject.O)},CN=${String(peer.subject.CN)}`);
    res.writeHead(req.url === '/readyz' && !req.headers.authorization ? 200 : 400, { 'content-length': 2 });
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const file = writeKubeconfig(
    pki,
    kubeconfig(`server: ${JSON.stringify(url)}, certificate-authority: ${JSON.stringify(pki.caFile)}`, `client-certificate: ${JSON.stringify(client.certFile)}, client-key: ${JSON.stringify(client.keyFile)}`),
  );
  const upstream = await load(t, { kubeconfig: file });
  t.equal(upstream.authorization(), undefined, 'no Authorization: kubegate authenticates with its certificate');
  t.ok(upstream.agent().options.cert, 'the agent carries the client certificate');
  t.ok(upstream.agent().options.key, 'and its key');
  t.equal(String(upstream.agent().options.cert), client.cert);
  t.equal(await upstream.probe(), true, 'an API server requiring a client certificate accepts kubegate');
  t.same(subjects, ['O=kubegate-proxies,CN=kubegate'], 'it saw kubegate\'s certificate');
});

t.test('probe() is single-flight and briefly cached: /readyz cannot fan out to the API server', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: TOKEN });
  t.teardown(() => fake.close());
  const file = writeKubeconfig(pki, kubeconfig(`server: ${JSON.stringify(fake.url)}, certificate-authority: ${JSON.stringify(pki.caFile)}`, `token: ${JSON.stringify(TOKEN)}`));
  const readyzRequests = () => fake.requests.filter((q) => q.url === '/readyz').length;

  /** Hold every /readyz answer until release(), with this status. */
  function gateReadyz(status: number): () => void {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    fake.route('GET', '/readyz', (req, res) => {
      req.resume();
      void gate.then(() => res.writeHead(status, { 'content-length': 2 }).end('ok'));
    });
    return release;
  }

  t.test('N concurrent probes: one upstream request on one connection, one answer for all', async (t) => {
    const CACHE_MS = 300;
    const upstream = await load(t, { kubeconfig: file, probeCacheMs: CACHE_MS });
    const release = gateReadyz(200);
    const before = { requests: readyzRequests(), connections: fake.tlsConnections };
    const first = Array.from({ length: 250 }, () => upstream.probe());
    // The first request is at the API server, unanswered: more probes arrive while it is in flight.
    await eventually('the first probe at the API server', () => (readyzRequests() > before.requests ? true : undefined), 10_000, 5);
    const joined = Array.from({ length: 250 }, () => upstream.probe());
    release();
    t.strictSame(new Set(await Promise.all([...first, ...joined])), new Set([true]), 'all 500 callers got the answer');
    t.equal(readyzRequests() - before.requests, 1, '500 concurrent probes made one upstream request');
    t.equal(fake.tlsConnections - before.connections, 1, 'over one TLS connection');

    // Right after: the answer is reused, nothing is sent.
    t.strictSame(new Set(await Promise.all(Array.from({ length: 100 }, () => upstream.probe()))), new Set([true]));
    t.equal(readyzRequests() - before.requests, 1, 'probes within probeCacheMs reuse the answer');

    // After the cache age: one new request (and again only one for concurrent callers).
    await new Promise((resolve) => setTimeout(resolve, CACHE_MS + 100));
    t.strictSame(await Promise.all([upstream.probe(), upstream.probe(), upstream.probe()]), [true, true, true]);
    t.equal(readyzRequests() - before.requests, 2, 'a probe after probeCacheMs asks the API server again');
    t.same(fake.violations, []);
  });

  t.test('a failing answer is shared and cached the same way', async (t) => {
    const upstream = await load(t, { kubeconfig: file, probeCacheMs: 60_000 });
    const release = gateReadyz(503);
    const before = readyzRequests();
    const probes = Array.from({ length: 100 }, () => upstream.probe());
    await eventually('the probe at the API server', () => (readyzRequests() > before ? true : undefined), 10_000, 5);
    release();
    t.strictSame(new Set(await Promise.all(probes)), new Set([false]), '503: not ready, for every caller');
    t.equal(await upstream.probe(), false, 'reused');
    t.equal(readyzRequests() - before, 1, 'one upstream request');
  });

  t.test('a probe that times out ends the flight: the next caller after the cache age starts a new one', async (t) => {
    const upstream = await load(t, { kubeconfig: file, probeCacheMs: 0 });
    const release = gateReadyz(200);
    t.teardown(release);
    const before = readyzRequests();
    t.strictSame(await Promise.all([upstream.probe(100), upstream.probe(100)]), [false, false], 'no answer within the timeout: not ready');
    t.equal(readyzRequests() - before, 1);
    fake.route('GET', '/readyz', (req, res) => (req.resume(), res.writeHead(200, { 'content-length': 2 }).end('ok')));
    t.equal(await upstream.probe(), true, 'probeCacheMs 0: not reused, a new request succeeds');
    t.equal(readyzRequests() - before, 2);
  });

  t.test('by default an answer is reused (DEFAULT_PROBE_CACHE_MS)', async (t) => {
    fake.route('GET', '/readyz', (req, res) => (req.resume(), res.writeHead(200, { 'content-length': 2 }).end('ok')));
    const upstream = await load(t, { kubeconfig: file });
    const before = readyzRequests();
    t.equal(await upstream.probe(), true);
    t.equal(await upstream.probe(), true);
    t.equal(readyzRequests() - before, 1, 'two probes in a row: one request');
    t.equal(DEFAULT_PROBE_CACHE_MS, 1000);
  });
});
