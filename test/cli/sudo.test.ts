/**
 * `kubegate sudo`, the real command line in a child process, against the recording stub of kubegate's
 * elevation API: Active at once; Pending then approved, revoked or expired (decided by the stub after a
 * set number of polls, polled every few ms through KUBEGATE_SUDO_POLL_MS, so no outcome depends on
 * timing); --no-wait; the wait timeout; Ctrl-C while waiting; every refusal printing the server's message;
 * usage errors (bad durations, missing flags) exiting 2 without a request.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Elevation } from '../../src/elevation/types.js';
import { createPki } from '../support/pki.js';
import { startElevationApiStub, type ElevationApiStub } from '../support/elevation-api-stub.js';
import { within } from '../support/wait.js';
import { cleanEnv, kubegate, startKubegate, writeKubeconfig } from './cli-harness.js';

const pki = createPki();
const serving = pki.server();
const dir = mkdtempSync(join(tmpdir(), 'kubegate-cli-sudo-'));
t.teardown(() => {
  pki.cleanup();
  rmSync(dir, { recursive: true, force: true });
});
const env = (extra: NodeJS.ProcessEnv = {}) => cleanEnv(dir, { KUBEGATE_SUDO_POLL_MS: '5', ...extra });
let n = 0;

async function setup(t: Test, token = 'tok-alice'): Promise<{ stub: ElevationApiStub; kc: string }> {
  const stub = await startElevationApiStub({ serving });
  t.teardown(() => stub.close());
  const kc = writeKubeconfig(join(dir, `${++n}.kubeconfig`), [{ name: 'prod', server: stub.url, caFile: pki.caFile, token }]);
  return { stub, kc };
}

type Test = Parameters<Parameters<typeof t.test>[0]>[0];

const PROD = ['--group', 'prod-admin', '--for', '15m', '--reason', 'INC-4211'];
const ONCALL = ['--group', 'oncall-admin', '--for', '15m', '--reason', 'INC-4211'];

t.test('Active at once: one line on stdout with the expiry; the request is what the person asked, with their token', async (t) => {
  const { stub, kc } = await setup(t);
  const r = await kubegate(['sudo', '--group', 'oncall-admin', '--group', 'oncall-viewer', '--for', '45m30s', '--reason', 'INC-4211', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /^elevated: alice holds oncall-admin, oncall-viewer until \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(in 45m\d+s\) \(elevation elev-1\)\n$/);
  t.equal(r.stdout.split('\n').length, 2, 'one line');
  t.notMatch(r.stderr, /Pending/);
  t.equal(stub.requests.length, 1, 'no polling');
  const req = stub.requests[0]!;
  t.equal(req.method, 'POST');
  t.equal(req.path, '/kubegate/v1/elevations');
  t.equal(req.authorization, 'Bearer tok-alice');
  t.equal(req.headers['content-type'], 'application/json');
  t.same(req.body, { groups: ['oncall-admin', 'oncall-viewer'], durationSeconds: 2730, reason: 'INC-4211' });
});

t.test('-o json: stdout is the Elevation', async (t) => {
  const { kc } = await setup(t);
  const r = await kubegate(['sudo', ...ONCALL, '-o', 'json', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  const e = JSON.parse(r.stdout) as Elevation;
  t.match(e, { id: 'elev-1', phase: 'Active', requester: 'alice', groups: ['oncall-admin'], durationSeconds: 900 });
});

t.test('Pending, approved after 3 polls: says it waits for a second person and how they approve; exit 0', async (t) => {
  const { stub, kc } = await setup(t);
  stub.decideAfterGets(3, 'approve', 'bob');
  const r = await kubegate(['sudo', ...PROD, '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.match(r.stderr, 'elevation elev-1 is Pending: it needs approval by a second person');
  t.match(r.stderr, 'An approver runs: kubegate elevations approve elev-1');
  t.match(r.stderr, 'approved by bob');
  t.match(r.stdout, /^elevated: alice holds prod-admin until .* \(in 15m\) \(elevation elev-1\)\n$/);
  const polls = stub.requests.slice(1);
  t.equal(polls.length, 3, 'polled until the answer changed, then stopped');
  for (const p of polls) {
    t.equal(p.method, 'GET');
    t.equal(p.path, '/kubegate/v1/elevations/elev-1');
    t.equal(p.authorization, 'Bearer tok-alice');
  }
});

t.test('Pending, a 503 while polling: reported once on stderr, polling goes on', async (t) => {
  const { stub, kc } = await setup(t);
  stub.refuseNext({ method: 'GET' }, { code: 503, reason: 'ServiceUnavailable', message: 'the elevation store is unavailable' });
  stub.refuseNext({ method: 'GET' }, { code: 503, reason: 'ServiceUnavailable', message: 'the elevation store is unavailable' });
  stub.decideAfterGets(1, 'approve', 'bob');
  const r = await kubegate(['sudo', ...PROD, '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stderr.split('the elevation store is unavailable').length - 1, 1, 'the same problem is reported once');
  t.match(r.stdout, /^elevated: /);
});

t.test('Pending, then revoked or expired: exit 1 saying so, nothing on stdout', async (t) => {
  for (const [decision, expected] of [
    ['revoke', 'kubegate sudo: elevation elev-1 was revoked by carol at '],
    ['expire', 'kubegate sudo: elevation elev-1 expired before anyone approved it (it could be approved until '],
  ] as const) {
    const { stub, kc } = await setup(t);
    stub.decideAfterGets(2, decision, 'carol');
    const r = await kubegate(['sudo', ...PROD, '--kubeconfig', kc], env());
    t.equal(r.code, 1, decision);
    t.match(r.stderr, expected);
    if (decision === 'revoke') t.match(r.stderr, 'before anyone approved it');
    t.equal(r.stdout, '');
  }
});

t.test('--no-wait: prints the id only and exits 0 without polling', async (t) => {
  const { stub, kc } = await setup(t);
  const r = await kubegate(['sudo', ...PROD, '--no-wait', '--kubeconfig', kc], env());
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, 'elev-1\n');
  t.match(r.stderr, 'An approver runs: kubegate elevations approve elev-1');
  t.equal(stub.requests.length, 1);
});

t.test('--wait-timeout: nobody approves, exit 1, the request stays pending and the hint repeats --kubeconfig', async (t) => {
  const { stub, kc } = await setup(t);
  const r = await kubegate(['sudo', ...PROD, '--wait-timeout', '1s', '--kubeconfig', kc], env({ KUBEGATE_SUDO_POLL_MS: '100' }));
  t.equal(r.code, 1);
  t.match(r.stderr, 'kubegate sudo: nobody approved elevation elev-1 within 1s; it is still Pending');
  t.match(r.stderr, `withdraw: kubegate elevations revoke elev-1 --kubeconfig ${kc}`);
  t.equal(r.stdout, '');
  t.equal(stub.elevations.get('elev-1')?.phase, 'Pending');
  t.ok(stub.requests.length >= 2, 'it polled');
});

t.test('Ctrl-C while waiting: exit 130, the request stays pending, how to withdraw it', async (t) => {
  const { stub, kc } = await setup(t);
  const run = startKubegate(['sudo', ...PROD, '--kubeconfig', kc], env({ KUBEGATE_SUDO_POLL_MS: '50' }));
  await within(
    new Promise<void>((resolve) => {
      const check = () => (run.stderrSoFar().includes('Waiting up to') ? resolve() : setTimeout(check, 20));
      check();
    }),
    30_000,
    'sudo to start waiting',
  );
  run.child.kill('SIGINT');
  const r = await within(run.done, 30_000, 'sudo to stop');
  t.equal(r.code, 130, r.stderr);
  t.match(r.stderr, 'kubegate sudo: stopped waiting; elevation elev-1 is still Pending (withdraw it: kubegate elevations revoke elev-1');
  t.equal(r.stdout, '');
  t.equal(stub.elevations.get('elev-1')?.phase, 'Pending');
});

t.test("each refusal prints the server's message and exits 1", async (t) => {
  const cases: { name: string; args: string[]; script?: { code: number; reason: string; message: string }; expected: string }[] = [
    { name: 'not eligible', args: ['--group', 'cluster-admin', '--for', '15m', '--reason', 'INC-1'], expected: 'not eligible for group cluster-admin' },
    { name: 'too long', args: ['--group', 'prod-admin', '--for', '1h', '--reason', 'INC-1'], expected: "duration 3600s exceeds the rule's maximum 1800s" },
    {
      name: 'login too old',
      args: ONCALL,
      script: { code: 403, reason: 'Forbidden', message: 'elevation needs a fresh login: run your login again with a fresh MFA prompt' },
      expected: 'elevation needs a fresh login: run your login again with a fresh MFA prompt',
    },
    { name: 'reason too short', args: ONCALL, script: { code: 400, reason: 'BadRequest', message: 'reason must be at least 8 characters' }, expected: 'reason must be at least 8 characters' },
    { name: 'store down', args: ONCALL, script: { code: 503, reason: 'ServiceUnavailable', message: 'the elevation store is unavailable' }, expected: 'the elevation store is unavailable' },
  ];
  for (const c of cases) {
    const { stub, kc } = await setup(t);
    if (c.script) stub.refuseNext({ method: 'POST' }, c.script);
    const r = await kubegate(['sudo', ...c.args, '--kubeconfig', kc], env());
    t.equal(r.code, 1, c.name);
    t.equal(r.stderr, `kubegate sudo: ${c.expected}\n`, c.name);
    t.equal(r.stdout, '', c.name);
    t.equal(stub.elevations.size, 0, `${c.name}: nothing created`);
  }
});

t.test('usage errors exit 2 before any request: bad durations, missing flags, stray arguments', async (t) => {
  const { stub, kc } = await setup(t);
  const cases: [string[], string][] = [
    [['--group', 'g', '--for', '15', '--reason', 'r'], '--for must be a duration like 90s, 15m, 1h or 1h30m, got "15"'],
    [['--group', 'g', '--for', '1d', '--reason', 'r'], 'got "1d"'],
    [['--group', 'g', '--for', '30m1h', '--reason', 'r'], 'got "30m1h"'],
    [['--group', 'g', '--for', '15m', '--reason', 'r', '--wait-timeout', 'soon'], '--wait-timeout must be a duration'],
    [['--for', '15m', '--reason', 'r'], '--group is required'],
    [['--group', 'g', '--reason', 'r'], '--for is required'],
    [['--group', 'g', '--for', '15m', '--reason', '  '], '--reason is required'],
    [['--group', 'g', '--for', '15m', '--reason', 'r', '-o', 'yaml'], '-o/--output must be json'],
    [['--group', 'g', '--for', '15m', '--reason', 'r', 'extra'], 'Unexpected argument'],
    [['--grop', 'g'], "Unknown option '--grop'"],
  ];
  for (const [args, expected] of cases) {
    const r = await kubegate(['sudo', ...args, '--kubeconfig', kc], env());
    t.equal(r.code, 2, args.join(' '));
    t.match(r.stderr, /^kubegate sudo: /);
    t.match(r.stderr, expected);
    t.match(r.stderr, "Run 'kubegate sudo --help' for usage.");
  }
  t.equal(stub.requests.length, 0);
});

t.test('sudo --help: its own flags, exit 0', async (t) => {
  const r = await kubegate(['sudo', '--help'], env());
  t.equal(r.code, 0);
  for (const flag of ['--group GROUP', '--for DURATION', '--reason TEXT', '--no-wait', '--wait-timeout', '--kubeconfig FILE', '--context NAME', '-o, --output json', 'KUBEGATE_SUDO_POLL_MS']) {
    t.match(r.stdout, flag);
  }
  t.notMatch(r.stdout, /--oidc-issuer-url/, 'not the serve flags');
});
