/**
 * `kubegate elevations list | get | approve | revoke`, the real command line in a child process, against
 * the recording stub of kubegate's elevation API: the table (and that a reason cannot put escape
 * sequences on an approver's terminal), JSON output, approve and revoke sending the approver's own
 * token to the right path, the server's refusals, and usage errors exiting 2 without a request.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Elevation, ElevationList } from '../../src/elevation/types.js';
import { time } from '../../src/cli/elevation-format.js';
import { createPki } from '../support/pki.js';
import { startElevationApiStub, type ElevationApiStub } from '../support/elevation-api-stub.js';
import { cleanEnv, kubegate, writeKubeconfig } from './cli-harness.js';

const pki = createPki();
const serving = pki.server();
const dir = mkdtempSync(join(tmpdir(), 'kubegate-cli-elevations-'));
t.teardown(() => {
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const env = () => cleanEnv(dir);
let n = 0;

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const inMinutes = (m: number) => new Date(Date.now() + m * 60_000).toISOString();
const ACTIVE: Elevation = {
  id: 'elev-a1',
  requester: 'alice',
  groups: ['oncall-admin', 'oncall-viewer'],
  durationSeconds: 900,
  reason: 'INC-4211 database failover',
  rule: 'oncall',
  phase: 'Active',
  createdAt: '2030-01-01T10:00:00.000Z',
  activeAt: '2030-01-01T10:00:00.000Z',
  expiresAt: inMinutes(10),
};
const PENDING: Elevation = {
  id: 'elev-c2',
  requester: 'carol',
  groups: ['prod-admin'],
  durationSeconds: 1800,
  reason: 'CHG-7 \x1b[2J\x1b]0;owned\x07 rotate keys',
  rule: 'prod-admin',
  phase: 'Pending',
  createdAt: '2030-01-01T10:05:00.000Z',
  pendingExpiresAt: inMinutes(15),
};

/** A stub holding alice's active and carol's pending elevation, and a kubeconfig for `token`. */
async function setup(t: Test, token: string): Promise<{ stub: ElevationApiStub; kc: string }> {
  const stub = await startElevationApiStub({ serving, approvers: ['bob'] });
  t.teardown(() => stub.close());
  stub.seed(structuredClone(ACTIVE));
  stub.seed(structuredClone(PENDING));
  const kc = writeKubeconfig(join(dir, `${++n}.kubeconfig`), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token }]);
  return { stub, kc };
}

t.test('list (an approver): a table of everyone\'s, oldest first; control characters in a reason are neutralised', async (t) => {
  const { stub, kc } = await setup(t, 'tok-bob');
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines.length, 3);
  t.match(lines[0]!, /^ID\s+REQUESTER\s+GROUPS\s+PHASE\s+EXPIRES\s+REASON$/);
  t.match(lines[1]!, /^elev-a1\s+alice\s+oncall-admin,oncall-viewer\s+Active\s+\S+Z \(in (10m|9m\d+s)\)\s+INC-4211 database failover$/);
  t.match(lines[2]!, /^elev-c2\s+carol\s+prod-admin\s+Pending\s+-\s+CHG-7 \?\[2J\?\]0;owned\? rotate keys$/);
  t.notOk(/[\x00-\x08\x0b-\x1f\x7f]/.test(r.stdout), 'no control characters reach the terminal');
  const columns = (line: string) => ['REQUESTER', 'GROUPS', 'PHASE', 'EXPIRES', 'REASON'].map((h) => lines[0]!.indexOf(h)).map((i) => line[i - 1]);
  t.same(columns(lines[1]!), [' ', ' ', ' ', ' ', ' '], 'columns line up');
  t.equal(stub.requests[0]!.authorization, 'Bearer tok-bob');
});

t.test('list (a requester): only their own, as the server answers; -o json is the ElevationList', async (t) => {
  const { kc } = await setup(t, 'tok-alice');
  const r = await kubegate(['elevations', 'list', '-o', 'json', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  const list = JSON.parse(r.stdout) as ElevationList;
  t.same(list.items.map((e) => e.id), ['elev-a1']);
});

t.test('list, nothing there: "No elevations." on stderr, stdout empty, exit 0', async (t) => {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(join(dir, `${++n}.kubeconfig`), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-alice' }]);
  const r = await kubegate(['elevations', 'list', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, '');
  t.equal(r.stderr, 'No elevations.\n');
});

t.test('approve ID: POST .../approve with the approver\'s token; the elevation is Active', async (t) => {
  const { stub, kc } = await setup(t, 'tok-bob');
  const r = await kubegate(['elevations', 'approve', 'elev-c2', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^approved elevation elev-c2: carol holds prod-admin until \S+Z \(in (30m|29m\d+s)\)\n$/);
  t.equal(stub.requests.length, 1);
  t.match(stub.requests[0], { method: 'POST', path: '/kubegate/v1/elevations/elev-c2/approve', authorization: 'Bearer tok-bob', rawBody: '' });
  t.equal(stub.requests[0]!.headers['content-length'], '0', 'no body, said so');
  t.equal(stub.requests[0]!.headers['transfer-encoding'], undefined);
  t.match(stub.elevations.get('elev-c2'), { phase: 'Active', approvedBy: 'bob' });
});

t.test("approve refused (own request, not an approver, not pending): the server's message, exit 1", async (t) => {
  const cases: [string, string, string][] = [
    ['tok-bob', 'elev-a1', 'kubegate elevations: elevation elev-a1 is Active, not Pending\n'],
    ['tok-alice', 'elev-a1', 'kubegate elevations: alice may not approve elevations\n'],
  ];
  for (const [token, id, expected] of cases) {
    const { kc } = await setup(t, token);
    const r = await kubegate(['elevations', 'approve', id, '--kubeconfig', kc], env());
    t.equal(r.code, 1);
    t.equal(r.stderr, expected);
    t.equal(r.stdout, '');
  }
  const stub = await startElevationApiStub({ serving, approvers: ['carol'] });
  t.teardown(() => stub.close());
  stub.seed(structuredClone(PENDING));
  const kc = writeKubeconfig(join(dir, `${++n}.kubeconfig`), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token: 'tok-carol' }]);
  const own = await kubegate(['elevations', 'approve', 'elev-c2', '--kubeconfig', kc], env());
  t.equal(own.code, 1);
  t.equal(own.stderr, 'kubegate elevations: you cannot approve your own elevation: a second person must\n');
});

t.test('revoke ID: POST .../revoke; the elevation is Revoked', async (t) => {
  const { stub, kc } = await setup(t, 'tok-alice');
  const r = await kubegate(['elevations', 'revoke', 'elev-a1', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'revoked elevation elev-a1 (alice: oncall-admin, oncall-viewer); it is Revoked\n');
  t.match(stub.requests[0], { method: 'POST', path: '/kubegate/v1/elevations/elev-a1/revoke', authorization: 'Bearer tok-alice' });
  t.match(stub.elevations.get('elev-a1'), { phase: 'Revoked', revokedBy: 'alice' });
});

t.test('get ID: the fields, one per line; -o json; an unknown ID: the server\'s "no such elevation", exit 1', async (t) => {
  const { kc } = await setup(t, 'tok-bob');
  const before = Date.now();
  const r = await kubegate(['elevations', 'get', 'elev-c2', '--kubeconfig', kc], env());
  const after = Date.now();
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^ID: +elev-c2$/m);
  t.match(r.stdout, /^Requester: +carol$/m);
  t.match(r.stdout, /^Phase: +Pending$/m);
  t.match(r.stdout, /^Duration: +30m$/m);
  // "(in …)" is measured from when the command ran, whatever the machine's load: it lies between the
  // time left when it started and when it ended (to the second).
  const pending = /^Pending until: +(\S+Z) \(in (?:(\d+)m)?(?:(\d+)s)?\)$/m.exec(r.stdout);
  t.ok(pending, r.stdout);
  t.equal(pending?.[1], time(PENDING.pendingExpiresAt));
  const shownSeconds = Number(pending?.[2] ?? 0) * 60 + Number(pending?.[3] ?? 0);
  const until = Date.parse(PENDING.pendingExpiresAt!);
  t.ok(shownSeconds >= Math.round((until - after) / 1000) && shownSeconds <= Math.round((until - before) / 1000), `${shownSeconds}s left is what remained while the command ran`);
  t.match(r.stdout, /^Reason: +CHG-7 \?\[2J/m);

  const json = await kubegate(['elevations', 'get', 'elev-c2', '-o', 'json', '--kubeconfig', kc], env());
  t.equal(json.code, 0, json.stderr);
  t.same(JSON.parse(json.stdout), PENDING, 'the Elevation as sent, reason included');
  t.notOk(json.stdout.includes('\x1b'), 'escaped in JSON');

  const missing = await kubegate(['elevations', 'get', 'elev-zz', '--kubeconfig', kc], env());
  t.equal(missing.code, 1);
  t.equal(missing.stderr, 'kubegate elevations: no such elevation\n');
});

t.test('usage errors exit 2 before any request', async (t) => {
  const { stub, kc } = await setup(t, 'tok-bob');
  const cases: [string[], string][] = [
    [[], 'a subcommand is required: list, get, approve, revoke'],
    [['lst'], 'unknown subcommand "lst"'],
    [['approve'], 'approve takes one elevation ID'],
    [['revoke', 'a', 'b'], 'revoke takes one elevation ID, got 2'],
    [['get', '../../api/v1/secrets'], 'is not an elevation ID'],
    [['list', 'extra'], 'list takes no arguments'],
    [['list', '-o', 'wide'], '-o/--output must be json'],
  ];
  for (const [args, expected] of cases) {
    const r = await kubegate(['elevations', ...args, '--kubeconfig', kc], env());
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /^kubegate elevations: /);
    t.match(r.stderr, expected);
    t.match(r.stderr, "Run 'kubegate elevations --help' for usage.");
  }
  t.equal(stub.requests.length, 0);
});

t.test('elevations --help: its subcommands and flags; the overview names both commands', async (t) => {
  const r = await kubegate(['elevations', '--help'], env());
  t.equal(r.code, 0);
  for (const word of ['list', 'get ID', 'approve ID', 'revoke ID', '-o, --output json', '--kubeconfig FILE', '--context NAME']) t.match(r.stdout, word);
  const overview = await kubegate(['--help'], env());
  t.equal(overview.code, 0);
  t.match(overview.stdout, /^ {2}sudo +/m);
  t.match(overview.stdout, /^ {2}elevations +/m);
  t.match(overview.stdout, /--oidc-issuer-url/, 'the serve flags are still listed');
});
