/**
 * A RECORDING FAKE of the Kubernetes API server, for tests and the demo's stand-in. It is not an API
 * server: it serves TLS on 127.0.0.1, checks kubegate's own credential on every request, records every
 * header it receives (raw, in order) so tests can assert what crossed the proxy, and answers only what
 * the tests and the demo need: discovery, /version, SelfSubjectReview (`kubectl auth whoami`, built from
 * the Impersonate-* headers it received), a pod list, and routes a test adds.
 *
 * Two kinds of route, two promises checked:
 * - `route`: a request kubegate forwards for a person: kubegate's credential and exactly one Impersonate-User.
 * - `ownRoute`: kubegate's own API calls (SubjectAccessReviews, Elevation objects), made as kubegate itself:
 *   kubegate's credential and NO Impersonate-* header at all. Prefix-matched on path segments, so
 *   `ownRoute('GET', '/apis/kubegate.io/v1alpha1/namespaces/kubegate/elevations', h)` also answers
 *   `.../elevations/<name>`; the longest registered prefix wins.
 *
 * `http2: true` serves HTTP/2 (ALPN h2) and HTTP/1.1 (ALPN http/1.1 or none) on the same port, as
 * kube-apiserver does; upgrades (exec, attach, port-forward) stay HTTP/1.1 on the fallback. Routes then
 * receive Node's compat objects (Http2ServerRequest/Http2ServerResponse, `req.httpVersion === '2.0'`)
 * typed as IncomingMessage/ServerResponse: use only what both offer (headers, data/end, writeHead, write,
 * end, flushHeaders, 'close'), not the raw socket. Pseudo-headers are never recorded, and test hooks
 * script the connection: goaway(), settings(), refuseNext().
 */
import { createServer, type Server } from 'node:https';
import http2, { type Http2SecureServer, type Http2ServerRequest, type ServerHttp2Session } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { CertPair } from './pki.js';

export interface RecordedRequest {
  method: string;
  url: string;
  /** [name, value] pairs exactly as received (original case, repeats kept). */
  rawHeaders: [string, string][];
  /** All values of a header, case-insensitively. */
  all(name: string): string[];
  /** Whether kubegate's credential was presented. */
  credentialOk: boolean;
  /** The protocol the request arrived on. */
  httpVersion: '1.1' | '2.0';
}

export type Route = (req: IncomingMessage, res: ServerResponse, recorded: RecordedRequest) => void;
export type UpgradeRoute = (req: IncomingMessage, socket: Duplex, head: Buffer, recorded: RecordedRequest) => void;

export interface FakeApiServer {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** TLS connections accepted so far (handshake completed). */
  readonly tlsConnections: number;
  /** Connections open now on which no request has arrived (e.g. opened for a request then abandoned). */
  readonly openWithoutRequest: number;
  /**
   * Requests that broke kubegate's promises: wrong credential, no Impersonate-User on a forwarded request,
   * or an Impersonate-* header on one of kubegate's own calls (an `ownRoute`).
   */
  readonly violations: string[];
  route(method: string, path: string, handler: Route): void;
  /**
   * A route for kubegate's own calls (not on behalf of a person): any `Impersonate-*` header there is a
   * violation (answered 403). Matches `pathPrefix` itself and every path below it (`pathPrefix/...`).
   */
  ownRoute(method: string, pathPrefix: string, handler: Route): void;
  /** Handle protocol upgrades (exec, attach, port-forward) on a path, any method. */
  upgradeRoute(path: string, handler: UpgradeRoute): void;
  /** HTTP/2 streams reset by {@link refuseNext} (never processed, so not in `requests`) or above a {@link goaway}'s last id. */
  readonly refused: RecordedRequest[];
  /** HTTP/2 sessions accepted so far (`http2: true` only). */
  readonly http2Sessions: number;
  /**
   * `http2: true` only: send GOAWAY (NO_ERROR) on every open HTTP/2 session. Without `lastStreamId` the
   * session closes gracefully (GOAWAY with the last stream it received; its streams run to their end).
   * With one (≥ 1: Node turns 0 into its last processed stream), streams above it are not processed: their
   * records move from `requests` to `refused` (hold such requests in their route; one a route already
   * answered makes no sense). Client stream ids are odd: 1, 3, 5… per session.
   */
  goaway(lastStreamId?: number): void;
  /** `http2: true` only: new SETTINGS for open sessions and new ones; resolves once every open session acknowledged. */
  settings(s: { maxConcurrentStreams?: number }): Promise<void>;
  /** `http2: true` only: reset the next `n` HTTP/2 streams with REFUSED_STREAM, unprocessed (recorded in `refused`). */
  refuseNext(n: number): void;
  close(): Promise<void>;
}

export interface FakeOptions {
  serving: CertPair;
  /** The bearer token kubegate must present (the "service account token"). */
  expectedToken?: string;
  /** Listen on this port (to restart on the same address). */
  port?: number;
  /** Serve HTTP/2 (ALPN h2) with the HTTP/1.1 fallback on the same port (default false: HTTP/1.1 only). */
  http2?: boolean;
  /** Initial HTTP/2 SETTINGS (`http2: true`), e.g. { maxConcurrentStreams: 100 } like kube-apiserver. */
  http2Settings?: http2.Settings;
}

export async function startFakeApiServer(opts: FakeOptions): Promise<FakeApiServer> {
  const requests: RecordedRequest[] = [];
  const violations: string[] = [];
  const routes = new Map<string, Route>();
  const route = (method: string, path: string, handler: Route) => routes.set(`${method} ${path}`, handler);
  const ownRoutes: { method: string; prefix: string; handler: Route }[] = [];
  const ownRoute = (method: string, pathPrefix: string, handler: Route) => {
    const prefix = pathPrefix.replace(/\/+$/, '');
    const i = ownRoutes.findIndex((r) => r.method === method && r.prefix === prefix);
    if (i >= 0) ownRoutes.splice(i, 1);
    ownRoutes.push({ method, prefix, handler });
    ownRoutes.sort((a, b) => b.prefix.length - a.prefix.length); // longest prefix first
  };
  const findOwnRoute = (method: string, path: string) =>
    ownRoutes.find((r) => r.method === method && (path === r.prefix || path.startsWith(`${r.prefix}/`)));

  route('GET', '/version', (_q, res) => json(res, 200, { major: '1', minor: '32', gitVersion: 'v1.32.0-kubegate-fake', platform: 'linux/amd64' }));
  route('GET', '/api', (_q, res) => json(res, 200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] }));
  route('GET', '/apis', (_q, res) =>
    json(res, 200, {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: [{ name: 'authentication.k8s.io', versions: [{ groupVersion: 'authentication.k8s.io/v1', version: 'v1' }], preferredVersion: { groupVersion: 'authentication.k8s.io/v1', version: 'v1' } }],
    }),
  );
  route('GET', '/api/v1', (_q, res) =>
    json(res, 200, {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: [{ name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'], shortNames: ['po'] }],
    }),
  );
  route('GET', '/apis/authentication.k8s.io/v1', (_q, res) =>
    json(res, 200, { kind: 'APIResourceList', groupVersion: 'authentication.k8s.io/v1', resources: [{ name: 'selfsubjectreviews', singularName: 'selfsubjectreview', namespaced: false, kind: 'SelfSubjectReview', verbs: ['create'] }] }),
  );
  route('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', (req, res, rec) => {
    req.resume();
    const extra: Record<string, string[]> = {};
    for (const [name, value] of rec.rawHeaders) {
      const m = /^impersonate-extra-(.+)$/i.exec(name);
      if (m) (extra[decodeURIComponent(m[1]!.toLowerCase())] ??= []).push(value);
    }
    const userInfo: Record<string, unknown> = { username: utf8(rec.all('impersonate-user')[0] ?? ''), groups: [...rec.all('impersonate-group').map(utf8), 'system:authenticated'] };
    const uid = rec.all('impersonate-uid')[0];
    if (uid !== undefined) userInfo.uid = utf8(uid);
    if (Object.keys(extra).length) userInfo.extra = extra;
    json(res, 201, { kind: 'SelfSubjectReview', apiVersion: 'authentication.k8s.io/v1', metadata: { creationTimestamp: null }, status: { userInfo } });
  });
  route('GET', '/api/v1/namespaces/default/pods', (_q, res) =>
    json(res, 200, {
      kind: 'PodList',
      apiVersion: 'v1',
      metadata: { resourceVersion: '1' },
      items: [{ metadata: { name: 'hello', namespace: 'default', creationTimestamp: new Date().toISOString() }, spec: { containers: [{ name: 'c', image: 'busybox' }] }, status: { phase: 'Running' } }],
    }),
  );
  route('GET', '/readyz', (_q, res) => text(res, 200, 'ok'));
  route('GET', '/api/v1/namespaces/default/pods/hello', (_q, res) =>
    json(res, 200, {
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'hello', namespace: 'default', resourceVersion: '1', creationTimestamp: new Date().toISOString() },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
      status: { phase: 'Running', containerStatuses: [{ name: 'c', ready: true, restartCount: 0, image: 'busybox', imageID: '', state: { running: {} } }] },
    }),
  );
  const upgradeRoutes = new Map<string, UpgradeRoute>();

  const refused: RecordedRequest[] = [];
  /** HTTP/2 records: their session and stream id (for goaway's last stream id). */
  const streamOf = new Map<RecordedRequest, { session: http2.Http2Session; id: number }>();
  const record = (req: IncomingMessage, into = requests): RecordedRequest => {
    const rawHeaders: [string, string][] = [];
    // HTTP/2 pseudo-headers (:method, :path, :authority, :scheme) are framing, not headers kubegate sent.
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (!req.rawHeaders[i]!.startsWith(':')) rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const all = (name: string) => rawHeaders.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    const auth = all('authorization');
    const credentialOk = opts.expectedToken === undefined || (auth.length === 1 && auth[0] === `Bearer ${opts.expectedToken}`);
    const httpVersion = req.httpVersion === '2.0' ? '2.0' : '1.1';
    const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders, all, credentialOk, httpVersion };
    if (httpVersion === '2.0') {
      const stream = (req as unknown as Http2ServerRequest).stream;
      // Only while the stream is open: a finished stream was processed, whatever a later GOAWAY says.
      if (stream.session && stream.id !== undefined) {
        streamOf.set(recorded, { session: stream.session, id: stream.id });
        stream.once('close', () => streamOf.delete(recorded));
      }
    }
    into.push(recorded);
    return recorded;
  };
  let refuse = 0;

  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (refuse > 0 && req.httpVersion === '2.0') {
      refuse--;
      record(req, refused);
      (req as unknown as Http2ServerRequest).stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const recorded = record(req);
    if (recorded.httpVersion === '2.0') speakHttp2(res);
    const { all, credentialOk } = recorded;
    const path = (req.url ?? '/').split('?')[0]!;
    if (!credentialOk) {
      violations.push(`${req.method} ${path}: kubegate's credential missing or wrong`);
      return json(res, 401, status(401, 'Unauthorized', 'fake: kubegate credential missing'));
    }
    const own = findOwnRoute(req.method ?? '', path);
    if (own) {
      const impersonating = recorded.rawHeaders.filter(([n]) => /^impersonate-/i.test(n)).map(([n]) => n);
      if (impersonating.length) {
        violations.push(`${req.method} ${path}: kubegate's own call carried ${impersonating.join(', ')}`);
        req.resume();
        return json(res, 403, status(403, 'Forbidden', 'fake: impersonation on one of kubegate\'s own calls'));
      }
      return own.handler(req, res, recorded);
    }
    if (!path.endsWith('/readyz') && all('impersonate-user').length !== 1) {
      violations.push(`${req.method} ${path}: expected exactly one Impersonate-User, got ${all('impersonate-user').length}`);
      return json(res, 403, status(403, 'Forbidden', 'fake: no Impersonate-User'));
    }
    const handler = routes.get(`${req.method} ${path}`);
    if (handler) return handler(req, res, recorded);
    req.resume();
    json(res, 404, status(404, 'NotFound', `fake: no route for ${req.method} ${path}`));
  };
  const h2: Http2SecureServer | undefined = opts.http2
    ? http2.createSecureServer({ cert: opts.serving.cert, key: opts.serving.key, allowHTTP1: true, ...(opts.http2Settings && { settings: opts.http2Settings }) }, handle as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void)
    : undefined;
  const server: Server | Http2SecureServer = h2 ?? createServer({ cert: opts.serving.cert, key: opts.serving.key }, handle);
  let tlsConnections = 0;
  // Keyed by the client's address and port: on HTTP/2, req.socket is a proxy, not the TLS socket itself.
  const unused = new Map<string, object>();
  const sockets = new Set<TLSSocket>();
  const key = (s: { remoteAddress?: string | undefined; remotePort?: number | undefined }) => `${s.remoteAddress}:${s.remotePort}`;
  server.on('secureConnection', (socket: TLSSocket) => {
    tlsConnections++;
    const k = key(socket);
    unused.set(k, socket);
    sockets.add(socket);
    socket.once('close', () => {
      if (unused.get(k) === socket) unused.delete(k);
      sockets.delete(socket);
    });
  });
  server.prependListener('request', (req: IncomingMessage) => unused.delete(key(req.socket)));
  server.prependListener('upgrade', (req: IncomingMessage) => unused.delete(key(req.socket)));
  const sessions = new Set<ServerHttp2Session>();
  let http2Sessions = 0;
  let settings: http2.Settings = { ...opts.http2Settings };
  h2?.on('session', (session: ServerHttp2Session) => {
    http2Sessions++;
    sessions.add(session);
    session.on('error', () => {});
    session.once('close', () => sessions.delete(session));
  });
  const needH2 = (hook: string) => {
    if (!h2) throw new Error(`fake API server: ${hook}() needs startFakeApiServer({ http2: true })`);
    return h2;
  };
  const upgraded = new Set<Duplex>();
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket);
    socket.once('close', () => upgraded.delete(socket));
    const recorded = record(req);
    const path = (req.url ?? '/').split('?')[0]!;
    let refusal: string | undefined;
    if (!recorded.credentialOk) refusal = '401 Unauthorized';
    else if (recorded.all('impersonate-user').length !== 1) refusal = '403 Forbidden';
    if (refusal) violations.push(`upgrade ${req.method} ${path}: ${refusal}`);
    const handler = upgradeRoutes.get(path);
    if (!refusal && handler) return handler(req, socket, head, recorded);
    const body = JSON.stringify(status(refusal ? Number(refusal.slice(0, 3)) : 404, 'NotFound', `fake: ${refusal ?? 'no upgrade route'}`));
    socket.end(`HTTP/1.1 ${refusal ?? '404 Not Found'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}`,
    port,
    requests,
    get tlsConnections() {
      return tlsConnections;
    },
    get openWithoutRequest() {
      return unused.size;
    },
    violations,
    route,
    ownRoute,
    upgradeRoute: (path, handler) => upgradeRoutes.set(path, handler),
    refused,
    get http2Sessions() {
      return http2Sessions;
    },
    goaway(lastStreamId) {
      needH2('goaway');
      // Node sends the last stream it processed for 0, so 0 cannot say "none processed".
      if (lastStreamId !== undefined && !(Number.isInteger(lastStreamId) && lastStreamId >= 1)) throw new RangeError(`fake API server: goaway(lastStreamId) needs an integer >= 1, got ${lastStreamId}`);
      for (const session of sessions) {
        if (session.closed || session.destroyed) continue;
        if (lastStreamId === undefined) {
          session.close();
          continue;
        }
        session.goaway(http2.constants.NGHTTP2_NO_ERROR, lastStreamId);
        for (const [rec, at] of streamOf) {
          if (at.session !== session || at.id <= lastStreamId) continue;
          const i = requests.indexOf(rec);
          if (i >= 0) requests.splice(i, 1);
          refused.push(rec);
          streamOf.delete(rec);
        }
      }
    },
    async settings(next) {
      const srv = needH2('settings');
      settings = { ...settings, ...next };
      srv.updateSettings(settings);
      await Promise.all(
        [...sessions].filter((s) => !s.closed && !s.destroyed).map((s) => new Promise<void>((resolve) => s.settings(settings, () => resolve()))),
      );
    },
    refuseNext(n) {
      needH2('refuseNext');
      refuse = n;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        if (h2) {
          for (const session of sessions) session.destroy();
          for (const socket of sockets) socket.destroy();
        } else (server as Server).closeAllConnections();
        for (const socket of upgraded) socket.destroy();
      }),
  };
}

export function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
}

export function json(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function text(res: ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

/** Header values arrive as latin1 strings; names are UTF-8 bytes. */
function utf8(value: string): string {
  return Buffer.from(value, 'latin1').toString('utf8');
}

/** Headers that describe one HTTP/1.1 connection: on HTTP/2 they are dropped, as Go's server (kube-apiserver) does. */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/**
 * Routes are written for HTTP/1.1 (`transfer-encoding: chunked`, `flushHeaders()`); on HTTP/2 the compat
 * response would throw on those headers, and sends its head from writeHead already.
 */
function speakHttp2(res: ServerResponse): void {
  const keep = (headers: unknown) => (headers && typeof headers === 'object' && !Array.isArray(headers) ? Object.fromEntries(Object.entries(headers).filter(([n]) => !CONNECTION_SPECIFIC.has(n.toLowerCase()))) : headers);
  const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => ServerResponse;
  const setHeader = res.setHeader.bind(res);
  Object.assign(res, {
    writeHead: (status: number, ...rest: unknown[]) => writeHead(status, ...rest.map(keep)),
    setHeader: (name: string, value: string | number | readonly string[]) => (CONNECTION_SPECIFIC.has(name.toLowerCase()) ? res : setHeader(name, value)),
    flushHeaders: () => {},
  });
  // ServerResponse.closed, as the HTTP/1.1 tests read it: the stream has closed.
  Object.defineProperty(res, 'closed', { get: () => (res as unknown as { stream: { closed: boolean } }).stream.closed });
}
