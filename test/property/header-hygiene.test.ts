/**
 * Property: whatever headers a client sends, the API server receives exactly kubegate's credential and
 * identity headers and none of the client's forbidden ones, and the audit record names the client
 * identity headers that were removed.
 *
 * Each case is a random header set written byte for byte on a fresh TLS connection to a real kubegate in
 * front of the recording fake: names in any case, duplicates, `Connection:` listing random names
 * (kubegate's own among them), Impersonate-*, Authorization, Proxy-Authorization, X-Remote-*,
 * X-Forwarded-*, Forwarded, X-Real-Ip, Audit-Id, hop-by-hop headers, odd whitespace, and a few
 * obs-folded or malformed lines (Node's parser refuses those: then nothing may be forwarded at all).
 *
 * A model predicts the outcome (400 unparsable, 401 for anything but one Authorization header, 403 for
 * client impersonation, which is switched off here, else forwarded) and the test checks kubegate
 * against it. `FUZZ_RUNS` (default 2000) sets the number of cases; `FUZZ_SEED` replays a run.
 */
import t from 'tap';
import fc from 'fast-check';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { AuditEvent } from '../../src/audit/event.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate } from '../../src/server/server.js';
import { kubeconfigYaml, SA_TOKEN, startHarness } from '../support/harness.js';
import { openTls } from '../support/keepalive-client.js';
import { within } from '../support/wait.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const PODS = '/api/v1/namespaces/default/pods';
const ALICE = { email: 'alice@example.com', email_verified: true, groups: ['dev', 'ops'] };

/** Header kinds the generator draws from; `benign` ones must arrive unless the client's Connection lists them. */
type Kind = 'authorization' | 'impersonation' | 'requestHeader' | 'stripped' | 'benign';
interface Line {
  kind: Kind;
  name: string;
  value: string;
  /** How the line is written: normally, obs-folded onto two lines, or with a space before the colon. */
  shape: 'plain' | 'folded' | 'malformed';
}

const randomCase = (s: string) => fc.array(fc.boolean(), { minLength: s.length, maxLength: s.length }).map((up) => [...s].map((c, i) => (up[i] ? c.toUpperCase() : c.toLowerCase())).join(''));
const ows = fc.constantFrom('', ' ', '  ', '\t', ' \t ');
const tokenChars = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789-'.split(''));
const suffix = fc.string({ unit: tokenChars, minLength: 1, maxLength: 8 });
// Printable ASCII without leading/trailing spaces (Node trims OWS; the value must survive the trip).
const headerValue = fc.string({ unit: fc.constantFrom(...'abcXYZ019 ,;=/:"()!#$%&*+.^_`|~'.split('')), minLength: 1, maxLength: 20 }).map((v) => v.trim() || 'v');

/** Headers whose duplicates Node discards (node:http IncomingMessage.headers). */
const SINGLE_VALUE = new Set(['user-agent']);
const IMPERSONATE = ['Impersonate-User', 'Impersonate-Group', 'Impersonate-Uid'];
const REQUEST_HEADER = ['X-Remote-User', 'X-Remote-Group', 'X-Remote-Uid'];
const STRIPPED = ['Proxy-Authorization', 'X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'X-Forwarded-Port', 'X-Real-Ip', 'Forwarded', 'Audit-Id', 'Keep-Alive', 'Proxy-Connection', 'TE', 'Trailer'];
/** Names a Connection header may list: kubegate's own, framing, forbidden ones, benign ones. */
const CONNECTION_TARGETS = ['authorization', 'impersonate-user', 'impersonate-group', 'audit-id', 'x-forwarded-for', 'content-length', 'host', 'close', 'keep-alive', 'x-remote-user', 'x-fuzz-a', 'x-fuzz-b', 'user-agent', 'accept'];

function lineArb(): fc.Arbitrary<Line> {
  const plain = <K extends Kind>(kind: K, name: fc.Arbitrary<string>, value: fc.Arbitrary<string>) => fc.record({ kind: fc.constant(kind), name, value, shape: fc.constant<'plain'>('plain') });
  return fc.oneof(
    { weight: 3, arbitrary: plain('requestHeader', fc.oneof(fc.constantFrom(...REQUEST_HEADER), suffix.map((s) => `X-Remote-Extra-${s}`)).chain(randomCase), headerValue) },
    { weight: 4, arbitrary: plain('stripped', fc.constantFrom(...STRIPPED).chain(randomCase), headerValue) },
    {
      weight: 3,
      arbitrary: plain(
        'stripped',
        randomCase('Connection'),
        fc.array(fc.constantFrom(...CONNECTION_TARGETS).chain(randomCase), { minLength: 1, maxLength: 4 }).chain((names) => fc.tuple(ows, ows).map(([a, b]) => names.join(`${a},${b}`))),
      ),
    },
    { weight: 6, arbitrary: plain('benign', fc.oneof(fc.constantFrom('X-Fuzz-A', 'X-Fuzz-B', 'Accept', 'User-Agent'), suffix.map((s) => `X-Fuzz-${s}`)).chain(randomCase), headerValue) },
  );
}

/** `arb`'s value with probability `p`, else undefined (weighted oneof: unbiased, unlike small numbers). */
const sometimes = <T>(p: number, arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> =>
  fc.oneof({ weight: Math.round((1 - p) * 100), arbitrary: fc.constant(undefined) }, { weight: Math.round(p * 100), arbitrary: arb });
const rarely = (p: number) => sometimes(p, fc.constant(true)).map((v) => v === true);

/**
 * A case: random lines around exactly one valid Authorization header; now and then a second Authorization
 * (any case), client Impersonate-* lines, an obs-folded or malformed line, or no Authorization at all.
 */
function caseArb(token: string) {
  const impersonation = fc.record({ kind: fc.constant<Kind>('impersonation'), name: fc.oneof(fc.constantFrom(...IMPERSONATE), suffix.map((s) => `Impersonate-Extra-${s}`)).chain(randomCase), value: headerValue, shape: fc.constant<'plain'>('plain') });
  const extraAuth = fc.record({ kind: fc.constant<Kind>('authorization'), name: randomCase('Authorization'), value: fc.tuple(randomCase('Bearer'), fc.constantFrom(' ', '  ')).map(([b, sp]) => `${b}${sp}${token}`), shape: fc.constant<'plain'>('plain') });
  const odd = fc.record({ kind: fc.constant<Kind>('benign'), name: suffix.map((s) => `X-Odd-${s}`), value: headerValue, shape: fc.constantFrom<'folded' | 'malformed'>('folded', 'malformed') });
  return fc.record({
    lines: fc.array(lineArb(), { maxLength: 14 }),
    special: fc.tuple(
      sometimes(0.15, fc.array(impersonation, { minLength: 1, maxLength: 3 })),
      sometimes(0.08, extraAuth),
      sometimes(0.06, odd),
    ),
    authAt: fc.nat(),
    specialAt: fc.array(fc.nat(), { minLength: 5, maxLength: 5 }),
    leading: ows,
    trailing: ows,
    dropAuth: rarely(0.03),
  });
}

function render(l: Line, leading: string, trailing: string): string {
  if (l.shape === 'folded') return `${l.name}: ${l.value}\r\n ${l.value}`;
  if (l.shape === 'malformed') return `${l.name} : ${l.value}`;
  return `${l.name}:${leading}${l.value}${trailing}`;
}

t.test(`header hygiene holds for ${RUNS} random header sets`, async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  // Signed by the provider's key for a day: a long run outlives a minted ID token (10 minutes).
  const iat = Math.floor(Date.now() / 1000);
  const token = await h.issuer.signWithProviderKey({ iss: h.issuer.issuer, aud: h.issuer.clientId, sub: 'alice-sub', ...ALICE, iat, exp: iat + 86_400 });
  const upstreamKubeconfig = join(h.pki.dir, 'fuzz-upstream.kubeconfig');
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(h.fake.url, h.pki.caFile, SA_TOKEN));
  const serving = h.pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
    oidc: { issuerUrl: h.issuer.issuer, clientId: h.issuer.clientId, caFile: h.issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups' },
    upstream: { kubeconfig: upstreamKubeconfig },
    impersonation: { allowClientImpersonation: false },
    security: { authFailureLimit: { enabled: false } },
  });
  const records = new Map<string, AuditEvent>();
  // The audit trail's output: each line is one Event (the default policy writes only ResponseComplete here).
  const auditOutput = {
    write: (line: string) => {
      const event = JSON.parse(line) as AuditEvent;
      records.set(event.auditID, event);
    },
    healthy: () => true,
    close: async () => {},
  };
  // Errors kubegate logs (a 5xx says why there), kept to explain a failing case.
  const errors: string[] = [];
  const log = winston.createLogger({ level: 'error', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: new Writable({ write: (c, _e, cb) => (errors.push(String(c).trim()), cb()) }) })] });
  const kubegate = await startKubegate(config, { log, auditOutput, metricsListener: false });
  t.teardown(() => kubegate.close());
  await kubegate.ready();

  /** Write the request on a fresh TLS connection; resolve with the status, the audit ID and once the record is written. */
  const exchange = async (head: string) => {
    const socket = await openTls(kubegate.port, h.pki.ca);
    socket.on('error', () => {});
    let buf = Buffer.alloc(0);
    const response = await within(
      new Promise<{ status: number; auditId: string | undefined }>((resolve) => {
        const done = () => {
          const text = buf.toString('latin1');
          const end = text.indexOf('\r\n\r\n');
          if (end < 0) return false;
          const headers = text.slice(0, end);
          const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1] ?? 0);
          if (buf.length < end + 4 + length) return false;
          resolve({ status: Number(headers.split(' ')[1]), auditId: /\r\naudit-id: *([^\r]+)/i.exec(headers)?.[1] });
          return true;
        };
        socket.on('data', (c: Buffer) => {
          buf = Buffer.concat([buf, c]);
          done();
        });
        socket.once('close', () => done() || resolve({ status: 0, auditId: undefined }));
        socket.write(head);
      }),
      15_000,
      'kubegate to answer',
    );
    socket.destroy();
    return response;
  };

  let forwarded = 0;
  let upstreamResets = 0;
  let done = 0;
  const outcomes: Record<string, number> = {};
  await fc.assert(
    fc.asyncProperty(caseArb(token), async ({ lines, special, authAt, specialAt, leading, trailing, dropAuth }) => {
      const all: Line[] = [...lines];
      if (!dropAuth) all.splice(authAt % (all.length + 1), 0, { kind: 'authorization', name: 'Authorization', value: `Bearer ${token}`, shape: 'plain' });
      const extras = [...(special[0] ?? []), ...(special[1] ? [special[1]] : []), ...(special[2] ? [special[2]] : [])];
      extras.forEach((l, i) => all.splice(specialAt[i]! % (all.length + 1), 0, l));
      const head = [`GET ${PODS} HTTP/1.1`, 'Host: localhost', ...all.map((l) => render(l, leading, trailing)), '', ''].join('\r\n');
      const authCount = all.filter((l) => l.kind === 'authorization').length;
      // Client impersonation is off: refused with 403, or 400 when the request is malformed (groups without a user).
      const unparsable = all.some((l) => l.shape !== 'plain');
      const expectedSet = unparsable ? [400] : authCount !== 1 ? [401] : all.some((l) => l.kind === 'impersonation') ? [403, 400] : [200];
      const before = h.fake.requests.length;
      const { status, auditId } = await exchange(head);
      outcomes[status] = (outcomes[status] ?? 0) + 1;
      // Found by the long run: now and then the API server closes an idle keep-alive connection just as
      // kubegate reuses it, and the request fails with 503 (ECONNRESET). That is availability, not hygiene:
      // such a case is counted and reported, and whatever reached the API server is still checked.
      const logged = errors.filter((e) => auditId !== undefined && e.includes(auditId)).join(' | ');
      const reset = status === 503 && expectedSet.includes(200) && logged.includes('ECONNRESET');
      if (reset) upstreamResets++;
      else if (!expectedSet.includes(status)) throw new Error(`status ${status}, expected ${expectedSet.join(' or ')}; kubegate logged: ${errors.filter((e) => auditId !== undefined && e.includes(auditId)).join(' | ') || errors.slice(-3).join(' | ')}`);
      const expected = status;
      const upstream = h.fake.requests.slice(before);
      if (reset) {
        if (upstream.length > 1) throw new Error(`a reset request reached the API server ${upstream.length} times`);
      } else if (expected !== 200) {
        if (upstream.length !== 0) throw new Error('a refused request reached the API server');
      } else {
        forwarded++;
        if (upstream.length !== 1) throw new Error(`expected one upstream request, got ${upstream.length}`);
      }
      for (const seen of expected === 200 || reset ? upstream : []) {
        const eq = (name: string, want: string[]) => {
          const got = seen.all(name);
          if (JSON.stringify(got) !== JSON.stringify(want)) throw new Error(`upstream ${name}: ${JSON.stringify(got)}, expected ${JSON.stringify(want)}`);
        };
        eq('authorization', [`Bearer ${SA_TOKEN}`]);
        eq('impersonate-user', ['alice@example.com']);
        eq('impersonate-group', ['dev', 'ops']);
        eq('impersonate-uid', []);
        eq('x-forwarded-for', ['127.0.0.1']);
        eq('audit-id', [auditId ?? '?']);
        for (const name of ['proxy-authorization', 'x-forwarded-host', 'x-forwarded-proto', 'x-forwarded-port', 'x-real-ip', 'forwarded', 'keep-alive', 'proxy-connection', 'te', 'trailer']) eq(name, []);
        // kubegate's own connection to the API server is kept alive; nothing of the client's Connection passes.
        if (!['', 'keep-alive'].includes(seen.all('connection').join(','))) throw new Error(`upstream connection: ${JSON.stringify(seen.all('connection'))}`);
        const bad = seen.rawHeaders.filter(([n]) => /^(x-remote-|impersonate-extra-)/i.test(n));
        if (bad.length) throw new Error(`client identity headers upstream: ${JSON.stringify(bad)}`);
        const listed = new Set(all.filter((l) => l.name.toLowerCase() === 'connection').flatMap((l) => l.value.split(',').map((v) => v.trim().toLowerCase())));
        const firstOnly = new Set<string>();
        for (const l of all.filter((x) => x.kind === 'benign')) {
          const name = l.name.toLowerCase();
          // Node keeps only the first of a duplicated single-value header such as User-Agent (its documented
          // req.headers rule): kubegate forwards what Node parsed.
          if (SINGLE_VALUE.has(name) && firstOnly.has(name)) continue;
          firstOnly.add(name);
          const got = seen.all(name);
          if (listed.has(name) && got.length > 0) throw new Error(`${name} was listed in Connection but forwarded`);
          if (!listed.has(name) && got.length === 0) throw new Error(`${name} was dropped`);
          if (!listed.has(name) && !got.join(', ').includes(l.value)) throw new Error(`${name}: ${JSON.stringify(got)} lost ${JSON.stringify(l.value)}`);
        }
      }
      if (++done % 1000 === 0 && process.env.FUZZ_PROGRESS) appendFileSync(process.env.FUZZ_PROGRESS, `${new Date().toISOString()} ${done} cases passed\n`);
      if (auditId === undefined) throw new Error('no audit ID on the response');
      const record = await within(
        (async () => {
          for (;;) {
            const r = records.get(auditId);
            if (r) return r;
            await new Promise((resolve) => setImmediate(resolve));
          }
        })(),
        10_000,
        'the audit record',
      );
      records.delete(auditId);
      if (record.responseStatus.code !== expected) throw new Error(`audit code ${record.responseStatus.code}, expected ${expected}`);
      if (!unparsable) {
        const names = (kind: Kind) => [...new Set(all.filter((l) => l.kind === kind).map((l) => l.name.toLowerCase()))].sort().join(',');
        const audited = (key: string) => (record.annotations?.[key] ?? '').split(',').filter(Boolean).sort().join(',');
        if (audited('kubegate.io/stripped-impersonation-headers') !== names('impersonation')) throw new Error(`audited impersonation names ${audited('kubegate.io/stripped-impersonation-headers')}, sent ${names('impersonation')}`);
        if (audited('kubegate.io/stripped-requestheader-headers') !== names('requestHeader')) throw new Error(`audited requestheader names ${audited('kubegate.io/stripped-requestheader-headers')}, sent ${names('requestHeader')}`);
      }
      h.fake.requests.splice(0, h.fake.requests.length);
    }),
    { numRuns: RUNS, ...(process.env.FUZZ_SEED && { seed: Number(process.env.FUZZ_SEED) }) },
  );
  t.same(h.fake.violations, [], 'the fake saw no request without kubegate\'s credential and one Impersonate-User');
  t.ok(forwarded > RUNS / 2, `most cases were forwarded (${forwarded}); outcomes ${JSON.stringify(outcomes)}`);
  t.comment(`outcomes by status: ${JSON.stringify(outcomes)}; upstream connection resets (503, not a hygiene failure): ${upstreamResets}`);
});
