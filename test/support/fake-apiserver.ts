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
 */
import { createServer, type Server } from 'node:https';
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
  close(): Promise<void>;
}

export interface FakeOptions {
  serving: CertPair;
  /** The bearer token kubegate must present (the "service account token"). */
  expectedToken?: string;
  /** Listen on this port (to restart on the same address). */
  port?: number;
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

  const record = (req: IncomingMessage): RecordedRequest => {
    const rawHeaders: [string, string][] = [];
    for (let i = 0; i < req.rawHeaders.length; i += 2) rawHeaders.push([req.rawHeaders[i]!, req.rawHeaders[i + 1]!]);
    const all = (name: string) => rawHeaders.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
    const auth = all('authorization');
    const credentialOk = opts.expectedToken === undefined || (auth.length === 1 && auth[0] === `Bearer ${opts.expectedToken}`);
    const recorded: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', rawHeaders, all, credentialOk };
    requests.push(recorded);
    return recorded;
  };

  const server: Server = createServer({ cert: opts.serving.cert, key: opts.serving.key }, (req, res) => {
    const recorded = record(req);
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
  });
  let tlsConnections = 0;
  const unused = new Set<object>();
  server.on('secureConnection', (socket) => {
    tlsConnections++;
    unused.add(socket);
    socket.once('close', () => unused.delete(socket));
  });
  server.prependListener('request', (req: IncomingMessage) => unused.delete(req.socket));
  server.prependListener('upgrade', (req: IncomingMessage) => unused.delete(req.socket));
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
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
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
