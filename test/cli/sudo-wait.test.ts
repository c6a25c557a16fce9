/**
 * In-process, with a fake clock and a fake client: how `kubegate sudo` waits for a decision (the poll
 * count up to the deadline, the last poll at the deadline, transient failures reported once, other
 * failures thrown, an interrupt), the durations people type, and the typed options parsed from argv.
 * No real time passes.
 */
import t from 'tap';
import type { Elevation } from '../../src/elevation/types.js';
import { KubegateApiError, type ElevationClient } from '../../src/cli/kubegate-api.js';
import { formatDuration, parseDuration, safeJson } from '../../src/cli/elevation-format.js';
import { parseSudoArgs, runSudo, waitForDecision, type WaitDeps } from '../../src/cli/sudo.js';
import { UsageError } from '../../src/cli/usage.js';

const PENDING: Elevation = {
  id: 'elev-1',
  requester: 'alice',
  groups: ['prod-admin'],
  durationSeconds: 900,
  reason: 'INC-4211',
  rule: 'prod-admin',
  phase: 'Pending',
  createdAt: '2030-01-01T10:00:00Z',
};
const ACTIVE: Elevation = { ...PENDING, phase: 'Active', approvedBy: 'bob', activeAt: '2030-01-01T10:01:00Z', expiresAt: '2030-01-01T10:16:00Z' };

/** A clock that only moves when the code under test sleeps. */
function fakeClock(): WaitDeps & { t: number; sleeps: number[]; progressLines: string[] } {
  const c = {
    t: Date.parse('2030-01-01T10:00:00Z'),
    sleeps: [] as number[],
    progressLines: [] as string[],
    now: () => c.t,
    sleep: async (ms: number, signal?: AbortSignal) => {
      c.sleeps.push(ms);
      if (!signal?.aborted) c.t += ms;
    },
    progress: (line: string) => void c.progressLines.push(line),
  };
  return c;
}

t.test('waitForDecision', async (t) => {
  t.test('still pending at the deadline: polls every interval, the last poll at the deadline, then times out', async (t) => {
    const clock = fakeClock();
    let gets = 0;
    const outcome = await waitForDecision(async () => (gets++, PENDING), PENDING, { intervalMs: 2000, timeoutMs: 7000 }, clock);
    t.equal(outcome.kind, 'timeout');
    t.same(clock.sleeps, [2000, 2000, 2000, 1000]);
    t.equal(gets, 4);
  });

  t.test('approved on the third poll: decided with the answer, no more polls', async (t) => {
    const clock = fakeClock();
    const answers = [PENDING, PENDING, ACTIVE];
    let gets = 0;
    const outcome = await waitForDecision(async (id) => (t.equal(id, 'elev-1'), answers[gets++]!), PENDING, { intervalMs: 2000, timeoutMs: 600_000 }, clock);
    t.same(outcome, { kind: 'decided', elevation: ACTIVE });
    t.equal(gets, 3);
  });

  t.test('transient failures are reported once per message and polling goes on; others are thrown', async (t) => {
    const clock = fakeClock();
    const down = new KubegateApiError('API_REFUSED', 'the elevation store is unavailable', { status: 503 });
    const gone = new KubegateApiError('API_UNREACHABLE', 'cannot reach kubegate at https://x: ECONNRESET');
    const answers: (Elevation | Error)[] = [down, down, gone, PENDING, ACTIVE];
    let i = 0;
    const get = async () => {
      const a = answers[i++]!;
      if (a instanceof Error) throw a;
      return a;
    };
    const outcome = await waitForDecision(get, PENDING, { intervalMs: 10, timeoutMs: 1000 }, clock);
    t.equal(outcome.kind, 'decided');
    t.equal(clock.progressLines.length, 2, 'two distinct problems, each once');
    t.match(clock.progressLines[0], 'the elevation store is unavailable');

    const unauthorized = new KubegateApiError('API_REFUSED', 'Unauthorized', { status: 401 });
    await t.rejects(waitForDecision(async () => Promise.reject(unauthorized), PENDING, { intervalMs: 10, timeoutMs: 1000 }, fakeClock()), unauthorized);
  });

  t.test('an interrupt stops waiting', async (t) => {
    const clock = fakeClock();
    const interrupt = new AbortController();
    let gets = 0;
    const get = async () => {
      if (++gets === 2) interrupt.abort();
      return PENDING;
    };
    const outcome = await waitForDecision(get, PENDING, { intervalMs: 2000, timeoutMs: 600_000, signal: interrupt.signal }, clock);
    t.equal(outcome.kind, 'interrupted');
    t.equal(gets, 2);
  });
});

t.test('runSudo with a fake client: -o json prints the final Elevation; a timeout exits 1; stdout holds only the result', async (t) => {
  const client = (answers: Elevation[]): ElevationClient => ({
    url: 'https://kubegate.example/kubegate/v1/elevations',
    context: 'prod',
    cluster: 'prod',
    user: 'alice',
    create: async () => PENDING,
    list: async () => ({ items: [] }),
    get: async () => answers.shift() ?? PENDING,
    approve: async () => ACTIVE,
    revoke: async () => ACTIVE,
  });
  const io = () => {
    const o = { out: '', err: '' };
    return { o, io: { out: (s: string) => void (o.out += s), err: (s: string) => void (o.err += s) } };
  };
  const opts = parseSudoArgs(['--group', 'prod-admin', '--for', '15m', '--reason', 'INC-4211', '-o', 'json'], {});

  const a = io();
  t.equal(await runSudo(opts, client([PENDING, ACTIVE]), a.io, fakeClock()), 0);
  t.equal(a.o.out, safeJson(ACTIVE));
  t.match(a.o.err, 'An approver runs: kubegate elevations approve elev-1');

  const b = io();
  const clock = fakeClock();
  t.equal(await runSudo({ ...opts, output: 'text', selection: { context: 'prod ops' } }, client([]), b.io, clock), 1);
  t.equal(b.o.out, '');
  t.match(b.o.err, "nobody approved elevation elev-1 within 10m; it is still Pending");
  t.match(b.o.err, "kubegate elevations revoke elev-1 --context 'prod ops'", 'the hint repeats --context, quoted for a shell');
  t.equal(clock.sleeps.length, 300, 'every 2 s for 10 minutes of fake time');
});

t.test('durations', async (t) => {
  const good: [string, number][] = [['90s', 90], ['15m', 900], ['1h', 3600], ['1h30m', 5400], ['1h0m30s', 3630], ['90m', 5400], ['2h5s', 7205]];
  for (const [text, seconds] of good) t.equal(parseDuration(text), seconds, text);
  for (const text of ['', '15', '1d', '1.5h', '30m1h', '15min', '0s', '0h0m', '-5m', ' 15m', '15M', 'h', '1h 30m']) t.equal(parseDuration(text), undefined, JSON.stringify(text));
  t.same([5400, 90, 3600, 0, 3661].map(formatDuration), ['1h30m', '1m30s', '1h', '0s', '1h1m1s']);
});

t.test('parseSudoArgs: typed options, defaults, and usage errors', async (t) => {
  const o = parseSudoArgs(['--group', 'a', '--group', 'b', '--group', 'a', '--for', '1h', '--reason', ' INC-1 ', '--context', 'prod', '--no-wait'], {});
  t.same(o, {
    request: { groups: ['a', 'b'], durationSeconds: 3600, reason: 'INC-1' },
    selection: { kubeconfig: undefined, context: 'prod' },
    wait: false,
    waitTimeoutMs: 600_000,
    pollMs: 2000,
    output: 'text',
  });
  t.equal(parseSudoArgs(['--group', 'a', '--for', '1m', '--reason', 'r'], { KUBEGATE_SUDO_POLL_MS: '25' }).pollMs, 25);
  t.throws(() => parseSudoArgs(['--group', 'a', '--for', '1m', '--reason', 'r'], { KUBEGATE_SUDO_POLL_MS: 'fast' }), UsageError);
  t.throws(() => parseSudoArgs(['--group', '', '--for', '1m', '--reason', 'r'], {}), { name: 'UsageError', message: '--group must not be empty' });
});
