/**
 * The HTTP/2 client to the API server: a pool of `node:http2` sessions behind the {@link UpstreamClient}
 * contract (upstream-client.ts), for ordinary requests and watches alike.
 *
 * - Sessions. Streams are multiplexed on a session up to the server's SETTINGS_MAX_CONCURRENT_STREAMS
 *   (a new session is used only once its first SETTINGS arrived; at most {@link MAX_STREAMS_CAP}). When
 *   every session is full, requests wait in a bounded queue while another session connects.
 * - Connect. TLS verified against the API server's CA (`rejectUnauthorized` forced on), ALPN `h2` only;
 *   a server that does not negotiate h2 is refused with UPSTREAM_FAILED, never spoken to in HTTP/1.1.
 * - GOAWAY. The session is drained at 'goaway' (never picked again); streams at or below its last stream
 *   id run to their end. Streams above it, and streams reset with REFUSED_STREAM, were provably not
 *   processed: {@link retryVerdict} decides whether they are sent once more on another session.
 * - Flow control. Each stream gets a receive window of `streamWindowBytes`; each session a connection
 *   window of max streams × that (≤ 2³¹−1), so streams whose readers are slow can never eat the
 *   connection window of the others; `maxSessionMemory` is sized above it so nghttp2 never answers a
 *   slow reader with ENHANCE_YOUR_CALM. A paused `body` pauses the stream (no WINDOW_UPDATE upstream).
 * - Liveness. Every session is PINGed every `pingIntervalMs`; no ack within `pingTimeoutMs` destroys it
 *   (its streams fail as a connection loss). A session without streams for `idleSessionMs` is closed,
 *   one kept warm.
 * - Release. Aborting the request's signal, or destroying `body`, closes the stream with CANCEL
 *   (RST_STREAM upstream) at once. The active-stream counters are decremented in one place, the
 *   stream's 'close'.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders as H2IncomingHeaders } from 'node:http2';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import type { Logger } from 'winston';
import { KubegateError, type ErrorCode } from '../errors/errors.js';
import { describeFetchError } from '../net/fetch-error.js';
import { connectTarget } from '../net/wire.js';
import { IDEMPOTENT_METHODS, type UpstreamClient, type UpstreamRequest, type UpstreamResponse } from './upstream-client.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_NO_ERROR } = http2.constants;

/** Streams per session before the server's SETTINGS arrive (kube-apiserver's default, and Go's). */
export const INITIAL_MAX_STREAMS = 100;
/** The most streams kubegate opens on one session, whatever the server allows (Go's transport caps at 1000 too). */
export const MAX_STREAMS_CAP = 1000;
const MAX_WINDOW = 2 ** 31 - 1;
const MIB = 1024 * 1024;
/** Attempts per request: the first and at most one retry. */
const MAX_ATTEMPTS = 2;
/** Sessions connecting at the same time, at most. */
const MAX_PARALLEL_CONNECTS = 4;
const ALPN_H2 = ['h2'];
const END_STREAM = { endStream: true } as const;

export interface H2PoolMetrics {
  sessionOpened?(): void;
  /** `reason`: goaway, idle, tls-change, ping-timeout, closed, lost. */
  sessionClosed?(reason: string): void;
  /** A request sent again on another session (`why`: goaway, refused, unsent). */
  retried?(why: string): void;
}

export interface H2PoolOptions {
  /** The API server's origin (`https://host:port`); request paths are absolute. */
  origin: URL;
  /** Verified TLS options for a new connection, read at each connect (Upstream.tlsOptions). */
  tls: () => tls.ConnectionOptions;
  /** Sessions made before a TLS change are drained; new requests go to new sessions (Upstream.onTlsChange). */
  onTlsChange?: (fn: () => void) => () => void;
  log?: Logger;
  /** Per-stream receive window in bytes (default 1 MiB). */
  streamWindowBytes?: number;
  /** PING every session this often (default 30 s, client-go's HTTP2_READ_IDLE_TIMEOUT_SECONDS). */
  pingIntervalMs?: number;
  /** Destroy a session whose PING is not acknowledged within this (default 15 s, client-go's HTTP2_PING_TIMEOUT_SECONDS). */
  pingTimeoutMs?: number;
  /** Close a session without streams after this long, one kept warm (default 90 s). */
  idleSessionMs?: number;
  /** nghttp2's memory limit per session in MB (default: the largest connection window in MB + 32). */
  maxSessionMemoryMb?: number;
  /** Requests waiting for a session, at most; beyond, UPSTREAM_RETRY (default 10,000). */
  maxQueued?: number;
  /** TLS handshake plus the server's first SETTINGS within this, or UPSTREAM_UNREACHABLE (default 10 s). */
  connectTimeoutMs?: number;
  metrics?: H2PoolMetrics;
  /** A new connection found that the API server does not offer h2 (ALPN): `upstream.protocol=auto` asks again. */
  onNoHttp2?: () => void;
}

export interface H2PoolStats {
  sessions: number;
  draining: number;
  connecting: number;
  activeStreams: number;
  queued: number;
}

export interface H2Pool extends UpstreamClient {
  stats(): H2PoolStats;
}

// ---------------------------------------------------------------------------------------------------
// The retry rule (pure)

export type RetryVerdict = 'retry' | 'UPSTREAM_RETRY' | 'UPSTREAM_FAILED';

export interface RetryFacts {
  method: string;
  /** The request carries a body (a body is never sent twice). */
  hasBody: boolean;
  /** The API server provably did not process the attempt: above GOAWAY's last stream id, REFUSED_STREAM, or never sent. */
  notProcessed: boolean;
  /** Something of the response already reached the caller (the head). */
  delivered: boolean;
  /** The caller's signal is aborted. */
  aborted: boolean;
  /** Attempts made so far, the failed one included (1 after the first failure). */
  attempts: number;
}

/**
 * What to do with an attempt that ended without a response head: send it once more, or fail with the
 * code that tells the client whether the API server processed it. Never a retry for a request with a
 * body, never after anything was delivered, never for a non-idempotent method, at most once.
 */
export function retryVerdict(f: RetryFacts): RetryVerdict {
  if (f.delivered || !f.notProcessed) return 'UPSTREAM_FAILED';
  if (f.aborted || f.hasBody || f.attempts >= MAX_ATTEMPTS || !IDEMPOTENT_METHODS.has(f.method)) return 'UPSTREAM_RETRY';
  return 'retry';
}

// ---------------------------------------------------------------------------------------------------
// Sessions, calls and the response body

interface Session {
  readonly session: ClientHttp2Session;
  /** Streams open on it (decremented only at a stream's 'close'). */
  active: number;
  /** How many streams it may carry (100 until the server's SETTINGS, then theirs, capped). */
  max: number;
  /** Taking no new streams (GOAWAY, TLS change, idle, pool closed). */
  draining: boolean;
  /** Usable: the server's first SETTINGS arrived. */
  ready: boolean;
  /** The last stream id a GOAWAY said the server may process (Infinity until a GOAWAY). */
  goawayLast: number;
  idleSince: number;
  pingTimer: NodeJS.Timeout | undefined;
  closeReason: string | undefined;
}

const kCall = Symbol('h2-pool call');
type TaggedStream = ClientHttp2Stream & { [kCall]: Call };

/** One request across its attempts. Also the abort listener of its signal (handleEvent). */
class Call {
  attempts = 0;
  /** Times `session.request()` threw before anything was sent (a GOAWAY raced the pick). */
  unsent = 0;
  sess: Session | undefined = undefined;
  stream: TaggedStream | undefined = undefined;
  body: H2Body | undefined = undefined;
  /** Resolved or rejected. */
  settled = false;
  aborted = false;
  timedOut = false;
  endSeen = false;
  sent = false;
  /** The session a retry should avoid. */
  avoid: Session | undefined = undefined;
  err: Error | undefined = undefined;

  constructor(
    readonly pool: Pool,
    readonly req: UpstreamRequest,
    readonly resolve: (res: UpstreamResponse) => void,
    readonly reject: (err: Error) => void,
  ) {}

  fail(err: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.req.signal.removeEventListener('abort', this);
    this.reject(err);
  }

  markSent(): void {
    if (this.sent) return;
    this.sent = true;
    this.req.onSent();
  }

  /** The signal aborted: release the upstream stream at once. */
  handleEvent(): void {
    if (this.aborted) return;
    this.aborted = true;
    const stream = this.stream;
    if (stream === undefined) {
      this.pool.unqueue(this);
      this.fail(aborted(this.req));
      return;
    }
    this.fail(aborted(this.req));
    if (this.body !== undefined) this.body.destroy();
    if (!stream.closed) stream.close(NGHTTP2_CANCEL);
  }
}

const aborted = (req: UpstreamRequest) =>
  new KubegateError('UPSTREAM_FAILED', `${req.method} ${pathOnly(req.path)} was abandoned by its caller before the API server answered`, { cause: req.signal.reason });

/** Path without the query (the query can name things a log should not need). */
const pathOnly = (path: string) => {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
};

const noop = () => {};

/**
 * The response body handed to the caller. It relays the stream's data with backpressure (a full buffer
 * pauses the stream, so nghttp2 stops acknowledging and the API server stops sending), ends only when the
 * stream closed cleanly after its END_STREAM, and is destroyed with a coded error otherwise. Destroying it
 * closes the stream with CANCEL.
 */
class H2Body extends Readable {
  constructor(readonly stream: ClientHttp2Stream) {
    super();
    // A failure after the head must never become an uncaught 'error' if the consumer has stopped listening.
    this.on('error', noop);
  }
  override _read(): void {
    this.stream.resume();
  }
  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
    cb(err);
  }
}

// Stream listeners: shared functions (no per-request closures); the call rides on the stream.
function onResponse(this: TaggedStream, headers: H2IncomingHeaders): void {
  const call = this[kCall];
  if (call.settled) return;
  call.settled = true;
  const status = Number(headers[':status']);
  delete headers[':status'];
  const body = new H2Body(this);
  call.body = body;
  this.on('data', onData);
  this.once('end', onEnd);
  call.resolve({ status, headers, body, httpVersion: '2.0' });
}

function onData(this: TaggedStream, chunk: Buffer): void {
  if (!this[kCall].body!.push(chunk)) this.pause();
}

function onEnd(this: TaggedStream): void {
  this[kCall].endSeen = true;
}

function onStreamError(this: TaggedStream, err: Error): void {
  const call = this[kCall];
  call.err ??= err;
}

function onFinish(this: TaggedStream): void {
  this[kCall].markSent();
}

function onTimeout(this: TaggedStream): void {
  const call = this[kCall];
  call.timedOut = true;
  const err = new KubegateError('UPSTREAM_TIMEOUT', `no data from the API server for ${call.req.idleMs} ms on ${call.req.method} ${pathOnly(call.req.path)}`);
  if (!call.settled) call.fail(err);
  else if (call.body !== undefined && !call.body.destroyed) call.body.destroy(err);
  if (!this.closed) this.close(NGHTTP2_CANCEL);
}

function onStreamClose(this: TaggedStream): void {
  const call = this[kCall];
  call.pool.streamClosed(call, this);
}

// ---------------------------------------------------------------------------------------------------

class Pool implements H2Pool {
  private readonly sessions: Session[] = [];
  private readonly queue: Call[] = [];
  private readonly pendingSockets = new Set<tls.TLSSocket>();
  private connecting = 0;
  private active = 0;
  private closed = false;
  /** The max streams the server announced last (for how many sessions a queue needs); 0 until a first SETTINGS. */
  private expectedMax = 0;
  private readonly tick: NodeJS.Timeout;
  private readonly unsubscribe: (() => void) | undefined;
  private readonly host: string;
  private readonly port: number;
  private readonly authority: string;
  private readonly streamWindow: number;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly idleSessionMs: number;
  private readonly maxSessionMemory: number;
  private readonly maxQueued: number;
  private readonly connectTimeoutMs: number;
  private readonly sessionSettings: http2.Settings;

  constructor(private readonly opts: H2PoolOptions) {
    if (opts.origin.protocol !== 'https:') throw new TypeError(`h2-pool: origin must be https, got ${opts.origin.protocol}`);
    ({ host: this.host, port: this.port } = connectTarget(opts.origin));
    this.authority = opts.origin.origin;
    this.streamWindow = positive(opts.streamWindowBytes, MIB, 'streamWindowBytes');
    this.pingIntervalMs = positive(opts.pingIntervalMs, 30_000, 'pingIntervalMs');
    this.pingTimeoutMs = positive(opts.pingTimeoutMs, 15_000, 'pingTimeoutMs');
    this.idleSessionMs = positive(opts.idleSessionMs, 90_000, 'idleSessionMs');
    this.maxSessionMemory = positive(opts.maxSessionMemoryMb, Math.ceil(Math.min(MAX_STREAMS_CAP * this.streamWindow, MAX_WINDOW) / MIB) + 32, 'maxSessionMemoryMb');
    this.maxQueued = positive(opts.maxQueued, 10_000, 'maxQueued');
    this.connectTimeoutMs = positive(opts.connectTimeoutMs, 10_000, 'connectTimeoutMs');
    if (this.streamWindow > MAX_WINDOW) throw new RangeError(`h2-pool: streamWindowBytes must be at most ${MAX_WINDOW}`);
    this.sessionSettings = { enablePush: false, initialWindowSize: this.streamWindow };
    this.tick = setInterval(() => this.housekeeping(), Math.min(this.pingIntervalMs, this.idleSessionMs));
    this.tick.unref();
    this.unsubscribe = opts.onTlsChange?.(() => {
      for (const s of this.sessions) this.drain(s, 'tls-change');
      opts.log?.info('upstream TLS material changed: HTTP/2 sessions made with the old material drain; new requests use new sessions');
    });
  }

  request(req: UpstreamRequest): Promise<UpstreamResponse> {
    return new Promise<UpstreamResponse>((resolve, reject) => {
      const call = new Call(this, req, resolve, reject);
      if (req.signal.aborted) return call.fail(aborted(req));
      req.signal.addEventListener('abort', call);
      this.dispatch(call);
    });
  }

  private dispatch(call: Call): void {
    if (this.closed) return call.fail(new KubegateError('UPSTREAM_UNREACHABLE', 'the HTTP/2 pool to the API server is closed (kubegate is shutting down)'));
    if (this.queue.length === 0) {
      const s = this.pick(call.avoid);
      if (s !== undefined) return this.start(call, s);
    }
    if (this.queue.length >= this.maxQueued) {
      return call.fail(new KubegateError('UPSTREAM_RETRY', `${this.maxQueued} requests are already waiting for an HTTP/2 connection to the API server`, { retryAfterSeconds: 1 }));
    }
    this.queue.push(call);
    this.ensureCapacity();
  }

  private pick(avoid: Session | undefined): Session | undefined {
    const list = this.sessions;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (s.ready && !s.draining && s.active < s.max && s !== avoid) return s;
    }
    return undefined;
  }

  unqueue(call: Call): void {
    const i = this.queue.indexOf(call);
    if (i >= 0) this.queue.splice(i, 1);
  }

  private pump(): void {
    const q = this.queue;
    while (q.length > 0) {
      const s = this.pick(q[0]!.avoid);
      if (s === undefined) break;
      this.start(q.shift()!, s);
    }
    if (q.length > 0) this.ensureCapacity();
  }

  private ensureCapacity(): void {
    // Until a server's SETTINGS said how many streams a session carries, one connect at a time.
    const parallel = this.expectedMax === 0 ? 1 : MAX_PARALLEL_CONNECTS;
    while (!this.closed && this.connecting < parallel && this.connecting * Math.max(this.expectedMax, 1) < this.queue.length) this.connect();
  }

  private start(call: Call, s: Session): void {
    const req = call.req;
    const headers = req.headers;
    headers[':method'] = req.method;
    headers[':path'] = req.path;
    call.attempts++;
    call.sess = s;
    call.err = undefined;
    let stream: TaggedStream;
    try {
      stream = s.session.request(headers, req.body === null ? END_STREAM : undefined) as TaggedStream;
    } catch (err) {
      call.attempts--;
      const code = (err as NodeJS.ErrnoException).code;
      // Nothing left kubegate: the session was going away under the pick. Any request may go elsewhere.
      if ((code === 'ERR_HTTP2_GOAWAY_SESSION' || code === 'ERR_HTTP2_INVALID_SESSION') && call.unsent++ < 3) {
        this.drain(s, 'goaway');
        this.opts.metrics?.retried?.('unsent');
        return this.dispatch(call);
      }
      return call.fail(new KubegateError('UPSTREAM_FAILED', `cannot send ${req.method} ${pathOnly(req.path)} on the HTTP/2 session: ${(err as Error).message}`, { cause: err }));
    }
    s.active++;
    this.active++;
    stream[kCall] = call;
    call.stream = stream;
    stream.on('response', onResponse);
    stream.on('error', onStreamError);
    stream.on('close', onStreamClose);
    if (req.idleMs > 0) stream.setTimeout(req.idleMs, onTimeout);
    if (req.body === null) call.markSent();
    else {
      stream.once('finish', onFinish);
      req.body.pipe(stream);
    }
  }

  /** The one place a stream's end is accounted for. */
  streamClosed(call: Call, stream: TaggedStream): void {
    const s = call.sess!;
    s.active--;
    this.active--;
    if (s.active === 0) s.idleSince = Date.now();
    if (call.stream === stream) call.stream = undefined;
    const code = stream.rstCode;
    if (!call.settled) this.failedBeforeHead(call, s, stream);
    else if (call.body !== undefined) {
      const body = call.body;
      if (code === NGHTTP2_NO_ERROR && call.endSeen) body.push(null);
      else if (!body.destroyed) {
        body.destroy(
          new KubegateError('UPSTREAM_FAILED', `the API server's response to ${call.req.method} ${pathOnly(call.req.path)} broke off (${describeStreamEnd(code, call.err)})`, { cause: call.err }),
        );
      }
      call.req.signal.removeEventListener('abort', call);
    }
    if (this.queue.length > 0) this.pump();
  }

  private failedBeforeHead(call: Call, s: Session, stream: TaggedStream): void {
    const req = call.req;
    const id = stream.id;
    const refused = stream.rstCode === NGHTTP2_REFUSED_STREAM;
    const aboveGoaway = id !== undefined && id > s.goawayLast;
    const notProcessed = id === undefined || aboveGoaway || refused;
    const verdict = retryVerdict({ method: req.method, hasBody: req.body !== null, notProcessed, delivered: false, aborted: req.signal.aborted, attempts: call.attempts });
    const what = `${req.method} ${pathOnly(req.path)}`;
    if (verdict === 'retry') {
      call.avoid = s;
      this.opts.metrics?.retried?.(refused ? 'refused' : 'goaway');
      this.opts.log?.debug('HTTP/2 request not processed by the API server; sending it once more', { request: what, reason: refused ? 'REFUSED_STREAM' : 'GOAWAY' });
      return this.dispatch(call);
    }
    if (verdict === 'UPSTREAM_RETRY') {
      const why = refused ? 'it refused the stream (REFUSED_STREAM)' : aboveGoaway ? `its GOAWAY's last stream id ${s.goawayLast} is below the request's ${id}` : 'it was never sent';
      const not = req.body !== null ? 'it has a body' : !IDEMPOTENT_METHODS.has(req.method) ? `${req.method} is not idempotent` : call.attempts >= MAX_ATTEMPTS ? 'it was already sent again once' : 'its caller left';
      return call.fail(new KubegateError('UPSTREAM_RETRY', `the API server did not process ${what}: ${why}; not sent again because ${not}`, { retryAfterSeconds: 1, cause: call.err }));
    }
    call.fail(new KubegateError('UPSTREAM_FAILED', `the connection to the API server failed before it answered ${what} (${describeStreamEnd(stream.rstCode, call.err)})`, { cause: call.err }));
  }

  // ----- sessions -----

  private connect(): void {
    this.connecting++;
    const { origin, log } = this.opts;
    const socket = tls.connect({ ...this.opts.tls(), host: this.host, port: this.port, ALPNProtocols: ALPN_H2, rejectUnauthorized: true });
    this.pendingSockets.add(socket);
    let done = false;
    let session: ClientHttp2Session | undefined;
    const finish = (err: KubegateError | undefined) => {
      if (done) return;
      done = true;
      this.connecting--;
      this.pendingSockets.delete(socket);
      clearTimeout(timer);
      if (err === undefined) return;
      socket.removeListener('error', onSocketError);
      socket.on('error', noop);
      socket.destroy();
      session?.destroy();
      log?.warn(`HTTP/2 connection to the API server failed: ${err.message}`, { server: origin.origin, code: err.code });
      // Whatever waited for this session fails with the reason; later requests try a new connection.
      const waiting = this.queue.splice(0);
      for (const call of waiting) call.fail(err);
    };
    const timer = setTimeout(
      () => finish(new KubegateError('UPSTREAM_UNREACHABLE', `no HTTP/2 connection to the API server at ${origin.origin} within ${this.connectTimeoutMs / 1000} s`)),
      this.connectTimeoutMs,
    );
    timer.unref();
    const onSocketError = (err: Error) => {
      if ((err as NodeJS.ErrnoException).code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') return finish(noH2('it refused ALPN h2'));
      const code: ErrorCode = 'UPSTREAM_UNREACHABLE';
      const reason = describeFetchError(err, { url: origin, trust: "the API server's CA", caFlag: "the kubeconfig's certificate-authority (or the service account's ca.crt)" });
      finish(new KubegateError(code, `cannot connect to the API server over HTTP/2: ${reason}`, { cause: err }));
    };
    const noH2 = (got: string) => {
      this.opts.onNoHttp2?.();
      return new KubegateError('UPSTREAM_FAILED', `the API server at ${origin.origin} does not offer HTTP/2 (${got}); use HTTP/1.1 to reach it (--upstream-protocol http1)`);
    };
    socket.once('error', onSocketError);
    socket.once('secureConnect', () => {
      if (socket.alpnProtocol !== 'h2') {
        return finish(noH2(socket.alpnProtocol ? `ALPN answered ${socket.alpnProtocol}` : 'it negotiated no ALPN protocol'));
      }
      if (!socket.authorized) return finish(new KubegateError('UPSTREAM_UNREACHABLE', `the TLS certificate of ${origin.origin} was not verified (${String(socket.authorizationError)})`));
      socket.removeListener('error', onSocketError);
      session = http2.connect(this.authority, {
        createConnection: () => socket,
        settings: this.sessionSettings,
        maxSessionMemory: this.maxSessionMemory,
        peerMaxConcurrentStreams: INITIAL_MAX_STREAMS,
      });
      const s: Session = { session, active: 0, max: INITIAL_MAX_STREAMS, draining: false, ready: false, goawayLast: Infinity, idleSince: Date.now(), pingTimer: undefined, closeReason: undefined };
      this.sessions.push(s);
      this.opts.metrics?.sessionOpened?.();
      session.on('remoteSettings', (settings) => {
        const max = Math.max(0, Math.min(settings.maxConcurrentStreams ?? MAX_STREAMS_CAP, MAX_STREAMS_CAP));
        const grew = max !== s.max || !s.ready;
        s.max = max;
        this.expectedMax = Math.max(1, max);
        if (grew && !session!.destroyed) session!.setLocalWindowSize(Math.min(Math.max(max, 1) * this.streamWindow, MAX_WINDOW));
        if (!s.ready) {
          s.ready = true;
          finish(undefined);
          if (this.closed) this.drain(s, 'closed');
        }
        if (this.queue.length > 0) this.pump();
      });
      session.on('goaway', (code: number, lastStreamID: number) => {
        s.goawayLast = Math.min(s.goawayLast, lastStreamID); // a later GOAWAY may only lower it
        log?.info('the API server sent GOAWAY on an HTTP/2 session; new requests use another session', { code, lastStreamID, streams: s.active });
        this.drain(s, 'goaway');
      });
      session.on('error', (err: Error) => {
        log?.warn(`HTTP/2 session to the API server failed: ${err.message}`, { server: origin.origin, code: (err as NodeJS.ErrnoException).code });
        if (!s.ready) finish(new KubegateError('UPSTREAM_FAILED', `the HTTP/2 session to the API server at ${origin.origin} failed while starting: ${err.message}`, { cause: err }));
      });
      session.once('close', () => {
        clearTimeout(s.pingTimer);
        s.draining = true;
        const i = this.sessions.indexOf(s);
        if (i >= 0) this.sessions.splice(i, 1);
        this.opts.metrics?.sessionClosed?.(s.closeReason ?? 'lost');
        if (!s.ready) finish(new KubegateError('UPSTREAM_FAILED', `the API server at ${origin.origin} closed the HTTP/2 connection before its SETTINGS`));
        else if (this.queue.length > 0) this.pump();
      });
    });
  }

  /** Take no new streams on `s`; it closes (GOAWAY) once its streams have ended. */
  private drain(s: Session, reason: string): void {
    if (s.draining) return;
    s.draining = true;
    s.closeReason ??= reason;
    if (!s.session.closed && !s.session.destroyed) s.session.close();
  }

  private housekeeping(): void {
    const now = Date.now();
    let open = 0;
    for (const s of this.sessions) if (s.ready && !s.draining) open++;
    for (const s of [...this.sessions]) {
      if (!s.ready || s.session.destroyed) continue;
      if (!s.draining && s.active === 0 && open > 1 && now - s.idleSince >= this.idleSessionMs) {
        open--;
        this.drain(s, 'idle');
        continue;
      }
      if (s.pingTimer === undefined) this.ping(s);
    }
  }

  private ping(s: Session): void {
    let sent: boolean;
    try {
      sent = s.session.ping(() => {
        clearTimeout(s.pingTimer);
        s.pingTimer = undefined;
      });
    } catch {
      return; // the session is going away; its 'close' cleans up
    }
    if (!sent) return;
    s.pingTimer = setTimeout(() => {
      s.closeReason = 'ping-timeout';
      s.draining = true;
      this.opts.log?.warn(`the API server did not answer an HTTP/2 PING within ${this.pingTimeoutMs / 1000} s; closing the session (${s.active} streams fail)`, { server: this.authority });
      s.session.destroy(new KubegateError('UPSTREAM_FAILED', `the API server did not answer an HTTP/2 PING within ${this.pingTimeoutMs / 1000} s`));
    }, this.pingTimeoutMs);
    s.pingTimer.unref();
  }

  stats(): H2PoolStats {
    let draining = 0;
    for (const s of this.sessions) if (s.draining) draining++;
    return { sessions: this.sessions.length, draining, connecting: this.connecting, activeStreams: this.active, queued: this.queue.length };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.tick);
    this.unsubscribe?.();
    const err = new KubegateError('UPSTREAM_UNREACHABLE', 'the HTTP/2 pool to the API server is closed (kubegate is shutting down)');
    for (const call of this.queue.splice(0)) call.fail(err);
    for (const s of this.sessions) this.drain(s, 'closed');
  }

  destroy(): void {
    this.close();
    for (const socket of this.pendingSockets) socket.destroy();
    for (const s of [...this.sessions]) s.session.destroy();
  }
}

/** RFC 9113 §7 error codes by number. */
const H2_ERRORS = ['NO_ERROR', 'PROTOCOL_ERROR', 'INTERNAL_ERROR', 'FLOW_CONTROL_ERROR', 'SETTINGS_TIMEOUT', 'STREAM_CLOSED', 'FRAME_SIZE_ERROR', 'REFUSED_STREAM', 'CANCEL', 'COMPRESSION_ERROR', 'CONNECT_ERROR', 'ENHANCE_YOUR_CALM', 'INADEQUATE_SECURITY', 'HTTP_1_1_REQUIRED'];

function describeStreamEnd(code: number | undefined, err: Error | undefined): string {
  const parts: string[] = [];
  if (code !== undefined) parts.push(`stream closed with ${H2_ERRORS[code] ?? `code ${code}`}`);
  if (err !== undefined) parts.push(err.message);
  return parts.join(': ') || 'the stream closed';
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`h2-pool: ${name} must be a positive number, got ${value}`);
  return value;
}

/** An HTTP/2 session pool to the API server behind the UpstreamClient contract (see the module comment). */
export function createH2Pool(opts: H2PoolOptions): H2Pool {
  return new Pool(opts);
}
