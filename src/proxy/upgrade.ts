/**
 * Protocol upgrades (exec, attach, cp, port-forward over WebSocket or SPDY/3.1) through http-proxy's
 * WebSocket path, with its GET+websocket-only check replaced by {@link classifyUpgrade}.
 *
 * CVE-2018-1002105 class: each upgrade gets its own upstream connection (an agent without keep-alive)
 * carrying kubegate's credential on that request only. If the API server answers with anything but
 * 101, that answer is relayed and the client connection closed: the two sockets are never spliced,
 * the client's further bytes are never read, and the upstream connection is never reused.
 */
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { createRequire } from 'node:module';
import type { Duplex } from 'node:stream';
import type httpProxy from 'http-proxy';
import { KubegateError } from '../errors/errors.js';
import { writeStatus } from '../errors/raw-response.js';
import type { UpgradeProtocol } from '../impersonation/headers.js';
import type { ReleaseSignal } from '../net/release.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Limits } from './limits.js';
import { upstreamPath } from './forward.js';

export interface UpgradeOutcome {
  /** 101 when the session was established, else the status relayed or sent; undefined: nothing was sent. */
  statusCode: number | undefined;
  /** Set when kubegate itself answered (the API server unreachable or silent). */
  error?: KubegateError;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
}

/** What an upgrade needs of the request's lifecycle owner. */
export interface UpgradeScope {
  readonly signal: ReleaseSignal;
  /** The request was handed to the API server's connection in full (or it answered). */
  markForwarded(): void;
  endedBy(kind: 'upstream-failed' | 'timed-out' | 'shutdown'): void;
  /** Called as soon as a status line is written or relayed to the client. */
  statusSent(code: number): void;
  /** What to do when kubegate shuts down during the session. */
  onStop(fn: () => void): void;
  /** The session started (101): it is on record (ResponseStarted) while it runs. */
  responseStarted?(code: number): void;
}

export interface UpgradeForwarder {
  /**
   * Resolves when the client connection has closed. Never rejects: failures are written to the socket.
   * Opens nothing once `scope.signal` is aborted; the time limits run from the start, so an upgrade the
   * API server never answers ends like any other long-running request.
   */
  forward(req: IncomingMessage, socket: Duplex, head: Buffer, headers: OutgoingHttpHeaders, limits: Limits, scope: UpgradeScope): Promise<UpgradeOutcome>;
  close(): void;
}

/**
 * The upgrade a request asks for, if kubegate relays it: `Upgrade: websocket` on GET, or
 * `Upgrade: SPDY/3.1` on GET or POST, with `Connection: upgrade`.
 * @throws KubegateError UPGRADE_UNSUPPORTED for anything else.
 */
export function classifyUpgrade(req: IncomingMessage): UpgradeProtocol {
  const connection = (req.headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim());
  const upgrade = (req.headers.upgrade ?? '').trim().toLowerCase();
  if (connection.includes('upgrade')) {
    if (upgrade === 'websocket' && req.method === 'GET') return 'websocket';
    if (upgrade === 'spdy/3.1' && (req.method === 'POST' || req.method === 'GET')) return 'SPDY/3.1';
  }
  throw new KubegateError('UPGRADE_UNSUPPORTED', `refused upgrade ${JSON.stringify(upgrade)} on ${req.method}`, { details: { upgrade: upgrade.slice(0, 40) } });
}

const require = createRequire(import.meta.url);

/**
 * http-proxy is loaded on the first upgrade, not at start-up (about 3 MB that most kubegates never use).
 * Where it lives is checked at once, so a missing package still stops start-up.
 */
function lazyProxyServer(): { get(): httpProxy; loaded(): httpProxy | undefined } {
  const path = require.resolve('http-proxy');
  let proxy: httpProxy | undefined;
  return {
    get() {
      if (proxy) return proxy;
      const created = (require(path) as typeof httpProxy).createProxyServer({ secure: true, changeOrigin: true, xfwd: false, ws: true });
      // http-proxy's first WebSocket pass destroys anything but GET + websocket, which would drop kubectl's
      // SPDY exec and port-forward (POST + SPDY/3.1). classifyUpgrade does that check instead.
      withoutPass(created, 'wsPasses', 'checkMethodAndHeader');
      return (proxy = created);
    },
    loaded: () => proxy,
  };
}

export function createUpgradeForwarder(upstream: Upstream): UpgradeForwarder {
  const proxyServer = lazyProxyServer();
  const open = new Set<Duplex>();

  return {
    forward(req, socket, head, headers, limits, scope) {
      const started = Date.now();
      const outcome: UpgradeOutcome = { statusCode: undefined, bytesFromClient: 0, bytesToClient: 0, durationMs: 0 };
      if (scope.signal.aborted || socket.destroyed) return Promise.resolve(outcome);
      req.headers = headers as IncomingMessage['headers'];
      const sent = (code: number) => {
        outcome.statusCode ??= code;
        scope.statusSent(code);
      };
      /** kubegate answers the client itself and gives up on the API server. */
      const fail = (error: KubegateError) => {
        if (outcome.statusCode !== undefined) return;
        outcome.error = error;
        sent(error.status);
        writeStatus(socket, error, typeof headers['audit-id'] === 'string' ? headers['audit-id'] : undefined);
      };
      return new Promise<UpgradeOutcome>((resolve) => {
        let upstreamReq: import('node:http').ClientRequest | undefined;
        const timers: NodeJS.Timeout[] = [];
        open.add(socket);
        socket.once('close', () => {
          open.delete(socket);
          for (const timer of timers) clearTimeout(timer);
          // Client gone (before or after the answer): the upstream request or session goes with it.
          upstreamReq?.destroy();
          outcome.durationMs = Date.now() - started;
          resolve(outcome);
        });
        // Shutting down: a session cannot be ended cleanly at the protocol level; both sockets are closed.
        scope.onStop(() => {
          if (socket.destroyed) return;
          scope.endedBy('shutdown');
          socket.destroy();
        });
        let proxy: httpProxy;
        try {
          proxy = proxyServer.get();
        } catch (err) {
          // (the socket's close, after this answer, resolves the outcome)
          return fail(new KubegateError('INTERNAL', `http-proxy could not be loaded: ${(err as Error).message}`, { cause: err }));
        }
        // Limits run from the start: an API server that never answers the upgrade is cut off too.
        if (limits.maxMs > 0) {
          timers.push(
            setTimeout(() => {
              if (outcome.statusCode === undefined) return fail(new KubegateError('UPSTREAM_TIMEOUT', 'the API server did not answer the upgrade within the long-running maximum'));
              scope.endedBy('timed-out');
              socket.destroy();
            }, limits.maxMs),
          );
        }
        if (limits.idleMs > 0) {
          timers.push(
            setTimeout(() => {
              if (outcome.statusCode !== undefined) return;
              fail(new KubegateError('UPSTREAM_TIMEOUT', 'the API server did not answer the upgrade within the long-running idle timeout'));
            }, limits.idleMs),
          );
        }

        const onProxyReq = (proxyReq: import('node:http').ClientRequest, proxiedReq: IncomingMessage) => {
          if (proxiedReq !== req) return;
          proxy.off('proxyReqWs', onProxyReq);
          upstreamReq = proxyReq;
          proxyReq.path = upstreamPath(upstream, req);
          proxyReq.once('finish', scope.markForwarded);
          proxyReq.once('response', scope.markForwarded);
          proxyReq.once('upgrade', scope.markForwarded);
          // Every response carries the audit ID: http-proxy relays the API server's headers (this
          // listener runs before it writes them), so add kubegate's ID if the API server sent none.
          const withAuditId = (res: IncomingMessage) => {
            if (res.headers['audit-id'] === undefined && typeof headers['audit-id'] === 'string') res.headers['audit-id'] = headers['audit-id'];
          };
          proxyReq.on('response', (res) => {
            // Not upgraded: http-proxy relays the answer and ends the client socket. Make sure nothing
            // the client sends afterwards is ever read, and the upstream connection dies with it.
            if (outcome.statusCode !== undefined) return void res.destroy();
            sent(res.statusCode ?? 502);
            withAuditId(res);
            res.on('end', () => socket.end(() => socket.destroy()));
            res.on('close', () => res.socket?.destroy());
          });
          proxyReq.on('upgrade', (res, upstreamSocket: Duplex) => {
            if (outcome.statusCode !== undefined) return void upstreamSocket.destroy();
            sent(101);
            withAuditId(res);
            scope.responseStarted?.(101);
            // Count bytes only once http-proxy has piped the sockets ('open'): a 'data' listener added
            // now would switch the upstream socket to flowing before http-proxy unshifts the bytes that
            // arrived with the 101, and they would go to the counter alone, never to the client.
            const onOpen = (proxySocket: unknown) => {
              if (proxySocket !== upstreamSocket) return;
              proxy.off('open', onOpen);
              upstreamSocket.on('data', (chunk: Buffer) => (outcome.bytesToClient += chunk.length));
              socket.on('data', (chunk: Buffer) => (outcome.bytesFromClient += chunk.length));
            };
            proxy.on('open', onOpen);
            socket.once('close', () => proxy.off('open', onOpen));
            socket.once('close', () => upstreamSocket.destroy());
            upstreamSocket.once('close', () => socket.destroy());
            // http-proxy cleared the socket timeouts before the upgrade; set ours now.
            if (limits.idleMs > 0 && 'setTimeout' in socket) {
              (socket as import('node:net').Socket).setTimeout(limits.idleMs, () => {
                scope.endedBy('timed-out');
                socket.destroy();
              });
            }
          });
        };
        proxy.on('proxyReqWs', onProxyReq);

        proxy.ws(req, socket, head, { target: upstream.target, agent: upstream.upgradeAgent() }, (err: NodeJS.ErrnoException) => {
          proxy.off('proxyReqWs', onProxyReq);
          if (socket.destroyed) return;
          if (outcome.statusCode !== undefined) {
            scope.endedBy('upstream-failed');
            return socket.destroy();
          }
          fail(new KubegateError(err.code === 'ECONNREFUSED' ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED', `upgrade to the API server failed: ${err.code ?? err.message}`, { cause: err }));
        });
      });
    },
    close() {
      for (const socket of open) socket.destroy();
      proxyServer.loaded()?.close();
    },
  };
}

/** Remove one of http-proxy's passes by name (its passes are named functions on the instance). */
export function withoutPass(proxy: httpProxy, list: 'webPasses' | 'wsPasses', name: string): void {
  const holder = proxy as unknown as Record<string, { name: string }[]>;
  const before = holder[list]!;
  holder[list] = before.filter((p) => p.name !== name);
  if (holder[list]!.length !== before.length - 1) throw new Error(`http-proxy has no ${list} pass named ${name}: re-check after upgrading it`);
}
