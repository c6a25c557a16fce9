/**
 * The one owner of a request's lifecycle. An exchange is opened before the first `await` of the
 * pipeline and decides, in one place, how the request ended and what its single audit record says.
 *
 * The record is written exactly once, when both are true:
 * - the pipeline has settled (it has refused, forwarded, or given up because the client left), and
 * - the client connection is done with (the response finished, or the connection closed).
 * So a client that disconnects while its token is still being verified cannot make kubegate write a
 * record before the outcome is known, and a record never claims a status that was never sent.
 *
 * Stages never hook socket events to decide the outcome themselves: they read `clientGone` after each
 * `await` (and stop: nothing is forwarded or answered for a client that has gone), listen to `signal`
 * to release what they opened, and report `endedBy()` when they end a response themselves. `signal` is
 * the request's one abort signal: a stage that ends the request's upstream work for its own reasons (a
 * limit, a shutdown) aborts it with `releaseUpstream()` rather than opening a second one.
 *
 * Audit stages (with {@link AuditHooks}): that one final record is the ResponseComplete (or Panic) record.
 * Before it, and only before it, come RequestReceived (written once the person is known, `received()`,
 * or just before the final record for a request refused earlier) and, for a long-running request,
 * ResponseStarted (written when its response starts, `responseStarted()`). Every record of a request
 * carries its audit ID; the policy decides which are kept.
 */
import type { Duplex } from 'node:stream';
import { Release, type ReleaseSignal } from '../net/release.js';
import { clientLeftEarly, type ClientResponse } from '../net/wire.js';
import type { AuditDecision, CapturedBody } from './audit-types.js';
import type { RequestContext, Outcome, OutcomeKind } from './context.js';

/** What a finished exchange hands to whoever writes the audit record. */
export type OnRecord = (ctx: RequestContext, outcome: Outcome) => void;

/** How the audit trail takes part in a request's lifecycle (audit/trail.ts implements it). */
export interface AuditHooks {
  /** The policy's decision for a request (its person known, or never to be known). */
  decide(ctx: RequestContext): AuditDecision;
  /** Largest body captured for Request/RequestResponse, in bytes. */
  readonly maxBodyBytes: number;
  /** Write a record of an earlier stage (the policy may omit it). */
  stage(ctx: RequestContext, stage: 'RequestReceived' | 'ResponseStarted', detail: { decision: AuditDecision; code?: number; annotations: Readonly<Record<string, string>> }): void;
}

export type BodyKind = 'request' | 'response';

export interface Exchange {
  readonly ctx: RequestContext;
  /**
   * Aborted when the upstream work must be released: the client went away before the response was
   * complete, or a stage called {@link releaseUpstream}. `clientGone` tells the two apart. A cheap
   * {@link Release}, not an AbortSignal (net/release.ts says why).
   */
  readonly signal: ReleaseSignal;
  /** A stage ends the upstream work itself (a limit, a shutdown, a response closed before the answer was relayed): abort `signal`. */
  releaseUpstream(): void;
  /** True once the client has gone before the response was complete. */
  readonly clientGone: boolean;
  /** The request was handed to the API server in full, or the API server answered. */
  markForwarded(): void;
  /** A stage ends the response itself: the close that follows is not the client's doing. First call wins. */
  endedBy(kind: Extract<OutcomeKind, 'upstream-failed' | 'timed-out' | 'shutdown' | 'revoked'>): void;
  /** What to do when kubegate shuts down while this request runs (end a watch cleanly, close a session). */
  onStop(fn: () => void): void;
  /** kubegate is shutting down: run the onStop handlers (once). */
  stop(): void;
  annotate(key: string, value: string): void;
  /** The person is known (authenticated): the policy decides the level; RequestReceived is written. */
  received(): void;
  /** A long-running response started (a watch's headers, a 101): ResponseStarted is written, once. */
  responseStarted(code: number): void;
  /** Bytes of the request or response body to capture for the record (0: none). */
  captureLimit(kind: BodyKind): number;
  /** Where the captured body will be read from when the record is written. */
  captured(kind: BodyKind, body: () => CapturedBody): void;
  /** The pipeline is done with the request. Call exactly once (in a `finally`). */
  settle(): void;
  /** Resolves once the audit record has been written. */
  readonly recorded: Promise<void>;
}

/** For upgrades: the socket the client's bytes arrive on, before and after authentication. */
export interface SocketExchange extends Exchange {
  /** The status line kubegate wrote (or relayed) on the raw socket. */
  statusSent(code: number): void;
  /**
   * Stop watching the socket for the client leaving and return the bytes it sent meanwhile (to be
   * relayed after the request). Until then the socket is read, so a half-close (FIN) is noticed.
   */
  stopWatching(): Buffer;
}

/** Bytes a client may send after an upgrade request, before it is answered, that kubegate keeps. */
const EARLY_BYTES_LIMIT = 64 * 1024;

interface Core {
  ex: Exchange;
  /** The client connection is done with (closed, or the response finished). */
  connectionDone(statusSent: number | undefined, clientGone: boolean): void;
  gone(): void;
}

function openCore(ctx: RequestContext, onRecord: OnRecord, onClientGone: () => void, hooks: AuditHooks | undefined): Core {
  const release = new Release();
  let clientGone = false;
  let forwarded = false;
  let ended: OutcomeKind | undefined;
  let settled = false;
  let closed = false;
  let statusAtClose: number | undefined;
  let written = false;
  let stopHandlers: (() => void)[] | undefined = [];
  const annotations: Record<string, string> = {};
  let markRecorded!: () => void;
  const recorded = new Promise<void>((resolve) => (markRecorded = resolve));
  let decision: AuditDecision | undefined;
  let startedWritten = false;
  const bodies: Partial<Record<BodyKind, () => CapturedBody>> = {};

  /** Decide (once) and write RequestReceived: when the person is known, or before the final record. */
  const receive = () => {
    if (hooks === undefined || decision !== undefined || written) return;
    decision = hooks.decide(ctx);
    hooks.stage(ctx, 'RequestReceived', { decision, annotations });
  };

  const writeIfDone = () => {
    if (written || !settled || !closed) return;
    receive();
    written = true;
    stopHandlers = [];
    const kind: OutcomeKind = ended ?? (clientGone ? 'client-gone' : ctx.errorCode !== undefined ? 'refused' : 'completed');
    const outcome: Outcome = { kind, statusSent: statusAtClose, forwarded, annotations };
    if (decision !== undefined) outcome.audit = decision;
    if (bodies.request) outcome.requestBody = bodies.request();
    if (bodies.response) outcome.responseBody = bodies.response();
    onRecord(ctx, outcome);
    markRecorded();
  };

  const ex: Exchange = {
    ctx,
    signal: release,
    releaseUpstream: () => release.abort(),
    get clientGone() {
      return clientGone;
    },
    markForwarded: () => void (forwarded = true),
    endedBy: (kind) => void (ended ??= kind),
    annotate: (key, value) => void (annotations[key] = value),
    received: receive,
    responseStarted(code) {
      if (hooks === undefined || startedWritten || written) return;
      startedWritten = true;
      receive();
      hooks.stage(ctx, 'ResponseStarted', { decision: decision!, code, annotations });
    },
    captureLimit(kind) {
      if (hooks === undefined || decision === undefined) return 0;
      const wanted = kind === 'request' ? decision.level === 'Request' || decision.level === 'RequestResponse' : decision.level === 'RequestResponse';
      return wanted ? hooks.maxBodyBytes : 0;
    },
    captured(kind, body) {
      bodies[kind] = body;
    },
    onStop(fn) {
      if (stopHandlers === undefined) fn();
      else stopHandlers.push(fn);
    },
    stop() {
      const handlers = stopHandlers ?? [];
      stopHandlers = undefined;
      for (const fn of handlers) fn();
    },
    settle() {
      settled = true;
      writeIfDone();
    },
    recorded,
  };
  return {
    ex,
    gone() {
      if (clientGone || closed || ended !== undefined) return;
      clientGone = true;
      onClientGone();
      release.abort();
    },
    connectionDone(status, gone) {
      if (closed) return;
      if (gone) this.gone();
      closed = true;
      statusAtClose = status;
      writeIfDone();
    },
  };
}

/**
 * An exchange over an ordinary request (HTTP/1.1 or HTTP/2): done when `res` closes; the client left if
 * the response was not handed over whole by then (a closed connection, a reset stream).
 */
export function responseExchange(ctx: RequestContext, res: ClientResponse, onRecord: OnRecord, onClientGone: () => void, hooks?: AuditHooks): Exchange {
  const core = openCore(ctx, onRecord, onClientGone, hooks);
  res.once('close', () => core.connectionDone(res.headersSent ? res.statusCode : undefined, clientLeftEarly(res)));
  return core.ex;
}

/** An exchange over a protocol upgrade: done when the client socket closes. */
export function socketExchange(ctx: RequestContext, socket: Duplex, onRecord: OnRecord, onClientGone: () => void, hooks?: AuditHooks): SocketExchange {
  const core = openCore(ctx, onRecord, onClientGone, hooks);
  let status: number | undefined;
  let watching = true;
  const early: Buffer[] = [];
  let earlySize = 0;
  const onData = (chunk: Buffer) => {
    early.push(chunk);
    earlySize += chunk.length;
    // Bounded: past the limit stop reading (the client can no longer grow kubegate's memory).
    if (earlySize >= EARLY_BYTES_LIMIT) socket.pause();
  };
  const onEnd = () => {
    core.gone();
    socket.destroy();
  };
  socket.on('data', onData);
  socket.once('end', onEnd);
  socket.on('error', () => socket.destroy());
  // Closed before any answer was written: the client left. After an answer: the session ended.
  socket.once('close', () => core.connectionDone(status, status === undefined));
  return Object.assign(core.ex, {
    statusSent(code: number) {
      status ??= code;
    },
    stopWatching() {
      if (watching) {
        watching = false;
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.pause();
      }
      return Buffer.concat(early);
    },
  });
}
