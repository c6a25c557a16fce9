/**
 * `kubegate sudo --group G [--group G2] --for 15m --reason "INC-4211" [--no-wait] [--wait-timeout 10m]
 *  [-o json] [--kubeconfig F] [--context C]`
 *
 * Asks the kubegate of the kubeconfig context for a break-glass elevation. An Active answer is printed
 * at once. A Pending one (the rule needs a second person) is polled with GET every 2 s until it is Active
 * (exit 0), Revoked or Expired (exit 1), or the wait times out (exit 1; the request stays pending). Ctrl-C
 * while waiting exits 130 and leaves the request pending. `--no-wait` prints the id and exits 0.
 *
 * stdout holds only the result (one line, the id with --no-wait, or the Elevation with -o json); progress
 * and refusals go to stderr. `KUBEGATE_SUDO_POLL_MS` overrides the poll interval (tests use a few ms).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Elevation, ElevationRequest } from '../elevation/types.js';
import type { ElevationClient, KubeconfigSelection } from './kubegate-api.js';
import { KubegateApiError } from './kubegate-api-error.js';
import { formatDuration, holdsUntil, parseDuration, safeJson, safeLine, selectionFlags, time } from './elevation-format.js';
import { CLIENT_FLAGS, outputFormat, parseFlags, UsageError, type OutputFormat } from './usage.js';

export const DEFAULT_POLL_MS = 2000;
export const DEFAULT_WAIT_TIMEOUT_SECONDS = 600;

export interface SudoOptions {
  request: ElevationRequest;
  selection: KubeconfigSelection;
  /** false with --no-wait. */
  wait: boolean;
  waitTimeoutMs: number;
  pollMs: number;
  output: OutputFormat;
}

/**
 * The command line as a typed object.
 * @param env read for KUBEGATE_SUDO_POLL_MS only.
 * @throws UsageError naming the flag: missing --group/--for/--reason, a duration that is not like 90s,
 *   15m, 1h, 1h30m, positional arguments, unknown flags.
 */
export function parseSudoArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): SudoOptions {
  const { values } = parseFlags(
    argv,
    {
      ...CLIENT_FLAGS,
      group: { type: 'string', multiple: true },
      for: { type: 'string' },
      reason: { type: 'string' },
      'no-wait': { type: 'boolean' },
      'wait-timeout': { type: 'string' },
    },
    false,
  );
  const groups = [...new Set(values.group ?? [])];
  if (groups.length === 0) throw new UsageError('--group is required: the group to hold (repeat --group for several)');
  const empty = groups.find((g) => g.trim() === '');
  if (empty !== undefined) throw new UsageError('--group must not be empty');
  if (values.for === undefined) throw new UsageError('--for is required: how long to hold the groups, like 15m or 1h30m');
  const reason = values.reason?.trim() ?? '';
  if (reason === '') throw new UsageError('--reason is required: why you need the groups (an incident or ticket number)');
  const output = outputFormat(values.output);
  return {
    request: { groups, durationSeconds: duration('--for', values.for), reason },
    selection: { kubeconfig: values.kubeconfig, context: values.context },
    wait: !values['no-wait'],
    waitTimeoutMs: (values['wait-timeout'] === undefined ? DEFAULT_WAIT_TIMEOUT_SECONDS : duration('--wait-timeout', values['wait-timeout'])) * 1000,
    pollMs: pollInterval(env.KUBEGATE_SUDO_POLL_MS),
    output,
  };
}

function duration(flag: string, text: string): number {
  const seconds = parseDuration(text);
  if (seconds === undefined) throw new UsageError(`${flag} must be a duration like 90s, 15m, 1h or 1h30m, got ${JSON.stringify(text)}`);
  return seconds;
}

function pollInterval(text: string | undefined): number {
  if (text === undefined || text === '') return DEFAULT_POLL_MS;
  const ms = Number(text);
  if (!Number.isInteger(ms) || ms < 1 || ms > 60_000) throw new UsageError(`KUBEGATE_SUDO_POLL_MS must be a whole number of milliseconds from 1 to 60000, got ${JSON.stringify(text)}`);
  return ms;
}

/** How waiting for a decision ended. */
export type WaitOutcome =
  | { kind: 'decided'; elevation: Elevation }
  | { kind: 'timeout'; elevation: Elevation }
  | { kind: 'interrupted'; elevation: Elevation };

export interface WaitDeps {
  now(): number;
  /** Resolve after `ms`, or early when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /** A line of progress for stderr (e.g. a transient failure while polling). */
  progress(line: string): void;
}

/**
 * Poll `get(pending.id)` every `intervalMs` until the elevation leaves Pending, `timeoutMs` has passed
 * (measured with `deps.now`, so tests freeze the clock), or `signal` aborts. The last poll happens at the
 * deadline. Transient failures (no connection, timeout, 5xx) are reported through `deps.progress`, once
 * per distinct message, and polling goes on; any other failure is thrown.
 * @throws KubegateApiError for a non-transient failure (e.g. 401 after the login expired, 404).
 */
export async function waitForDecision(
  get: (id: string) => Promise<Elevation>,
  pending: Elevation,
  opts: { intervalMs: number; timeoutMs: number; signal?: AbortSignal },
  deps: WaitDeps,
): Promise<WaitOutcome> {
  const deadline = deps.now() + opts.timeoutMs;
  let last = pending;
  let lastProblem = '';
  for (;;) {
    const remaining = deadline - deps.now();
    if (remaining <= 0) return { kind: 'timeout', elevation: last };
    await deps.sleep(Math.min(opts.intervalMs, remaining), opts.signal);
    if (opts.signal?.aborted) return { kind: 'interrupted', elevation: last };
    try {
      last = await get(pending.id);
    } catch (err) {
      if (!(err instanceof KubegateApiError) || !err.transient) throw err;
      if (err.message !== lastProblem) deps.progress(`still waiting; checking failed for now: ${err.message}`);
      lastProblem = err.message;
      continue;
    }
    lastProblem = '';
    if (last.phase !== 'Pending') return { kind: 'decided', elevation: last };
  }
}

export interface SudoDeps extends WaitDeps {
  /** Start treating an interrupt (Ctrl-C) as "stop waiting"; called only around the wait. */
  watchInterrupt?(): { signal: AbortSignal; stop(): void };
}

export interface SudoIo {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Create the elevation and, unless --no-wait, wait for a decision. Returns the exit code.
 * @throws KubegateApiError when kubegate refuses or cannot be reached (main.ts prints it, exit 1).
 */
export async function runSudo(opts: SudoOptions, client: ElevationClient, io: SudoIo, deps: SudoDeps): Promise<number> {
  const created = await client.create(opts.request);
  const id = safeLine(created.id);
  const again = selectionFlags(opts.selection);

  if (created.phase === 'Pending') {
    const lapses = created.pendingExpiresAt ? `; the request lapses at ${time(created.pendingExpiresAt)}` : '';
    io.err(`elevation ${id} is Pending: it needs approval by a second person${lapses}.\n`);
    io.err(`An approver runs: kubegate elevations approve ${id}\n`);
  }
  if (!opts.wait) {
    if (created.phase === 'Active') io.err(`elevation ${id} is Active: ${holdsUntil(created, deps.now())}\n`);
    if (created.phase === 'Revoked' || created.phase === 'Expired') return ended(created, io);
    io.out(opts.output === 'json' ? safeJson(created) : `${id}\n`);
    return 0;
  }

  let final = created;
  if (created.phase === 'Pending') {
    const interrupt = deps.watchInterrupt?.(); // before saying so: a Ctrl-C after the line below only stops waiting
    io.err(`Waiting up to ${formatDuration(opts.waitTimeoutMs / 1000)} (Ctrl-C stops waiting; the request stays pending)...\n`);
    let outcome: WaitOutcome;
    try {
      const wait = { intervalMs: opts.pollMs, timeoutMs: opts.waitTimeoutMs, ...(interrupt ? { signal: interrupt.signal } : {}) };
      outcome = await waitForDecision((x) => client.get(x), created, wait, deps);
    } finally {
      interrupt?.stop();
    }
    if (outcome.kind === 'timeout') {
      io.err(
        `kubegate sudo: nobody approved elevation ${id} within ${formatDuration(opts.waitTimeoutMs / 1000)}; it is still Pending and can still be approved ` +
          `(check: kubegate elevations get ${id}${again}; withdraw: kubegate elevations revoke ${id}${again})\n`,
      );
      return 1;
    }
    if (outcome.kind === 'interrupted') {
      io.err(`\nkubegate sudo: stopped waiting; elevation ${id} is still Pending (withdraw it: kubegate elevations revoke ${id}${again})\n`);
      return 130;
    }
    final = outcome.elevation;
    if (final.phase === 'Active' && final.approvedBy !== undefined) io.err(`approved by ${safeLine(final.approvedBy)}\n`);
  }
  if (final.phase !== 'Active') return ended(final, io);
  io.out(opts.output === 'json' ? safeJson(final) : `elevated: ${holdsUntil(final, deps.now())} (elevation ${id})\n`);
  return 0;
}

/** A Revoked or Expired answer: say what happened, exit 1. */
function ended(e: Elevation, io: SudoIo): number {
  const id = safeLine(e.id);
  let what: string;
  if (e.phase === 'Revoked') {
    what = `elevation ${id} was revoked${e.revokedBy ? ` by ${safeLine(e.revokedBy)}` : ''}${e.revokedAt ? ` at ${time(e.revokedAt)}` : ''}${e.activeAt ? '' : ' before anyone approved it'}`;
  } else if (e.activeAt === undefined) {
    what = `elevation ${id} expired before anyone approved it${e.pendingExpiresAt ? ` (it could be approved until ${time(e.pendingExpiresAt)})` : ''}`;
  } else {
    what = `elevation ${id} has already expired${e.expiresAt ? ` (at ${time(e.expiresAt)})` : ''}`;
  }
  io.err(`kubegate sudo: ${what}\n`);
  return 1;
}

/** Wait `ms`, or less when `signal` aborts (an abort ends the wait; it is not an error here). */
const realSleep = (ms: number, signal?: AbortSignal): Promise<void> => sleep(ms, undefined, signal ? { signal } : {}).catch(() => undefined);

/** `kubegate sudo ...`: exit 0 elevated (or requested with --no-wait), 1 refused/failed, 2 usage, 130 interrupted. */
export async function sudoCommand(argv: string[]): Promise<number> {
  const opts = parseSudoArgs(argv);
  // The client (and @kubernetes/client-node) loads once the flags are known good: a usage error is quick.
  const { createElevationClient } = await import('./kubegate-api.js');
  const client = createElevationClient(opts.selection);
  return runSudo(
    opts,
    client,
    { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) },
    {
      now: () => Date.now(),
      sleep: realSleep,
      progress: (line) => process.stderr.write(`${line}\n`),
      watchInterrupt() {
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.once('SIGINT', onSigint);
        return { signal: controller.signal, stop: () => process.removeListener('SIGINT', onSigint) };
      },
    },
  );
}
