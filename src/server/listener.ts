/**
 * The TLS listener: HTTP/1.1 only (`server.http2: false`) or HTTP/2 and HTTP/1.1 on the same port, chosen
 * per connection by ALPN (`h2`, `http/1.1`; a client that offers neither, like client-go's SPDY dialer,
 * gets HTTP/1.1). Protocol upgrades (exec, attach, port-forward) always arrive over HTTP/1.1.
 *
 * The limits on slow clients hold on both: TLS must finish within the handshake timeout, an HTTP/1.1
 * request head within `headersTimeoutSeconds` and the whole request within `requestTimeoutSeconds`
 * (Node's HTTP/1.1 checks, run for the HTTP/1.1 side of the HTTP/2 server too); an HTTP/2 client gets at
 * most `http2MaxStreamsPerConnection` streams at once. Shutdown: `drain()` sends every HTTP/2 session a
 * GOAWAY (its streams in flight carry on, new ones go elsewhere) and closes idle HTTP/1.1 connections;
 * `closeAll()` closes everything.
 */
import https from 'node:https';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type tls from 'node:tls';
import type { ClientRequest, ClientResponse } from '../net/wire.js';
import { TLS_MIN_VERSION } from './tls.js';

/** Receive windows for HTTP/2 request bodies (see http2Listener). */
const STREAM_WINDOW = 256 * 1024;
const CONNECTION_WINDOW = 4 * 1024 * 1024;

export interface ListenerOptions {
  serving: { cert: string | Buffer; key: string | Buffer };
  http2: boolean;
  http2MaxStreamsPerConnection: number;
  headersTimeoutSeconds: number;
  requestTimeoutSeconds: number;
}

export interface ListenerHandlers {
  request(req: ClientRequest, res: ClientResponse): void;
  upgrade(req: import('node:http').IncomingMessage, socket: Duplex, head: Buffer): void;
  clientError(err: NodeJS.ErrnoException, socket: Duplex): void;
  tlsClientError(err: NodeJS.ErrnoException, socket: tls.TLSSocket): void;
}

export interface Listener {
  /** The underlying TLS server (connection limits, certificate reload). */
  readonly server: tls.Server;
  listen(port: number, host: string): Promise<AddressInfo>;
  /** Stop accepting connections; resolves once every connection has closed. */
  close(): Promise<void>;
  /** Shutting down: HTTP/2 sessions get a GOAWAY, idle HTTP/1.1 connections are closed. Call again as responses finish. */
  drain(): void;
  /** Close every connection now. */
  closeAll(): void;
}

export function createListener(opts: ListenerOptions, handlers: ListenerHandlers): Listener {
  const timeouts = {
    handshakeTimeout: opts.headersTimeoutSeconds * 1000,
    headersTimeout: opts.headersTimeoutSeconds * 1000,
    requestTimeout: opts.requestTimeoutSeconds * 1000,
    // How often Node checks those timeouts (its default, 30 s, would let them run late by as much).
    connectionsCheckingInterval: Math.min(1000, opts.headersTimeoutSeconds * 500),
  };
  return opts.http2 ? http2Listener(opts, timeouts, handlers) : http1Listener(opts, timeouts, handlers);
}

type Timeouts = { handshakeTimeout: number; headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };

function http1Listener(opts: ListenerOptions, timeouts: Timeouts, handlers: ListenerHandlers): Listener {
  const server = https.createServer({ ...opts.serving, minVersion: TLS_MIN_VERSION, ...timeouts });
  wireCommon(server, handlers);
  server.on('request', handlers.request);
  server.on('upgrade', handlers.upgrade);
  return {
    server,
    listen: (port, host) => listen(server, port, host),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    drain: () => server.closeIdleConnections(),
    closeAll: () => server.closeAllConnections(),
  };
}

function http2Listener(opts: ListenerOptions, timeouts: Timeouts, handlers: ListenerHandlers): Listener {
  const server = http2.createSecureServer({
    ...opts.serving,
    minVersion: TLS_MIN_VERSION,
    handshakeTimeout: timeouts.handshakeTimeout,
    allowHTTP1: true,
    // Request bodies (kubectl apply, create): HTTP/2's 64 KiB default windows would make a large upload
    // crawl. Each stream may send 256 KiB ahead (kube-apiserver's per-stream upload buffer) and a
    // connection 4 MiB, which bounds what one client can make kubegate hold for bodies not yet forwarded.
    settings: { maxConcurrentStreams: opts.http2MaxStreamsPerConnection, enableConnectProtocol: false, initialWindowSize: STREAM_WINDOW },
  });
  // Node's HTTP/1.1 side of this server reads its request timeouts from these properties (the options
  // object of createSecureServer does not carry them), before listen() starts the periodic check.
  Object.assign(server, { headersTimeout: timeouts.headersTimeout, requestTimeout: timeouts.requestTimeout, connectionsCheckingInterval: timeouts.connectionsCheckingInterval });
  wireCommon(server, handlers);
  // Node's HTTP/2 server leaves Nagle on for the connections it hands to its HTTP/1.1 side: a head and a
  // body written apart then wait ~40 ms for each other (measured: 342 vs 2,100 req/s). node:https sets it.
  server.on('connection', (socket: Socket) => socket.setNoDelay(true));
  const sessions = new Set<http2.ServerHttp2Session>();
  const http1 = new Set<Socket>();
  let draining = false;
  server.on('session', (session: http2.ServerHttp2Session) => {
    sessions.add(session);
    session.setLocalWindowSize(CONNECTION_WINDOW);
    session.once('close', () => sessions.delete(session));
    // A session opened while draining is told at once to go elsewhere after its first streams.
    if (draining) session.close();
  });
  server.on('secureConnection', (socket: tls.TLSSocket) => {
    if (socket.alpnProtocol === 'h2') return;
    http1.add(socket);
    socket.once('close', () => http1.delete(socket));
  });
  server.on('request', handlers.request);
  server.on('upgrade', handlers.upgrade);
  // An HTTP/2 CONNECT (no :path) goes through the pipeline, which refuses it; an HTTP/1.1 CONNECT is dropped, as before.
  server.on('connect', (req: ClientRequest, res: ClientResponse | Duplex) => {
    if (res instanceof http2.Http2ServerResponse) handlers.request(req, res);
    else (res as Duplex).destroy();
  });
  // A session or stream error (a peer's protocol violation) closes that session only.
  server.on('sessionError', () => {});
  return {
    server,
    listen: (port, host) => listen(server, port, host),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    drain() {
      draining = true;
      for (const session of sessions) if (!session.closed) session.close();
      // The HTTP/1.1 side keeps Node's connection list (the one its request timeouts use): close the idle ones.
      (server as unknown as { closeIdleConnections(): void }).closeIdleConnections();
    },
    closeAll() {
      for (const session of sessions) session.destroy();
      for (const socket of http1) socket.destroy();
    },
  };
}

function wireCommon(server: tls.Server, handlers: ListenerHandlers): void {
  server.on('tlsClientError', handlers.tlsClientError);
  server.on('clientError', handlers.clientError);
}

function listen(server: tls.Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise<AddressInfo>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
