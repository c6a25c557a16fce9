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
import type { Duplex } from 'node:stream';
import httpProxy from 'http-proxy';
import { KubegateError } from '../errors/errors.js';
import { writeStatus } from '../errors/raw-response.js';
import type { UpgradeProtocol } from '../impersonation/headers.js';
import type { Upstream } from '../upstream/upstream.js';
import type { Limits } from './limits.js';
import { upstreamPath, withoutPass } from './forward.js';

export interface UpgradeOutcome {
  /** 101 when the session was established, else the status relayed or sent. */
  statusCode: number;
  bytesFromClient: number;
  bytesToClient: number;
  durationMs: number;
}

export interface UpgradeForwarder {
  /** Resolves when the client connection has closed. Never rejects: failures are written to the socket. */
  forward(req: IncomingMessage, socket: Duplex, head: Buffer, headers: OutgoingHttpHeaders, limits: Limits): Promise<UpgradeOutcome>;
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

export function createUpgradeForwarder(upstream: Upstream): UpgradeForwarder {
  const proxy = httpProxy.createProxyServer({ secure: true, changeOrigin: true, xfwd: false, ws: true });
  // http-proxy's first WebSocket pass destroys anything but GET + websocket, which would drop kubectl's
  // SPDY exec and port-forward (POST + SPDY/3.1). classifyUpgrade does that check instead.
  withoutPass(proxy, 'wsPasses', 'checkMethodAndHeader');
  const open = new Set<Duplex>();

  return {
    forward(req, socket, head, headers, limits) {
      req.headers = headers as IncomingMessage['headers'];
      const started = Date.now();
      const outcome: UpgradeOutcome = { statusCode: 0, bytesFromClient: 0, bytesToClient: 0, durationMs: 0 };
      return new Promise<UpgradeOutcome>((resolve) => {
        let maxTimer: NodeJS.Timeout | undefined;
        socket.on('error', () => socket.destroy());
        open.add(socket);
        socket.once('close', () => {
          open.delete(socket);
          clearTimeout(maxTimer);
          outcome.durationMs = Date.now() - started;
          resolve(outcome);
        });

        const onProxyReq = (proxyReq: import('node:http').ClientRequest, proxiedReq: IncomingMessage) => {
          if (proxiedReq !== req) return;
          proxy.off('proxyReqWs', onProxyReq);
          proxyReq.path = upstreamPath(upstream, req);
          // Every response carries the audit ID: http-proxy relays the API server's headers (this
          // listener runs before it writes them), so add kubegate's ID if the API server sent none.
          const withAuditId = (res: IncomingMessage) => {
            if (res.headers['audit-id'] === undefined && typeof headers['audit-id'] === 'string') res.headers['audit-id'] = headers['audit-id'];
          };
          proxyReq.on('response', (res) => {
            // Not upgraded: http-proxy relays the answer and ends the client socket. Make sure nothing
            // the client sends afterwards is ever read, and the upstream connection dies with it.
            outcome.statusCode = res.statusCode ?? 502;
            withAuditId(res);
            res.on('end', () => socket.end(() => socket.destroy()));
            res.on('close', () => res.socket?.destroy());
          });
          proxyReq.on('upgrade', (res, upstreamSocket: Duplex) => {
            outcome.statusCode = 101;
            withAuditId(res);
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
              (socket as import('node:net').Socket).setTimeout(limits.idleMs, () => socket.destroy());
            }
            if (limits.maxMs > 0) maxTimer = setTimeout(() => socket.destroy(), limits.maxMs);
          });
        };
        proxy.on('proxyReqWs', onProxyReq);

        proxy.ws(req, socket, head, { target: upstream.target, agent: upstream.upgradeAgent() }, (err: NodeJS.ErrnoException) => {
          proxy.off('proxyReqWs', onProxyReq);
          if (outcome.statusCode !== 0) return socket.destroy();
          const failure = new KubegateError(err.code === 'ECONNREFUSED' ? 'UPSTREAM_UNREACHABLE' : 'UPSTREAM_FAILED', `upgrade to the API server failed: ${err.code ?? err.message}`, { cause: err });
          outcome.statusCode = failure.status;
          writeStatus(socket, failure);
        });
      });
    },
    close() {
      for (const socket of open) socket.destroy();
      proxy.close();
    },
  };
}
