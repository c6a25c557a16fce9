/**
 * A small client for kubegate's own HTTP API (`/kubegate/v1/elevations`), for the person's commands
 * (`kubegate sudo`, `kubegate elevations`). Client side only: it shares the plain data types of
 * `elevation/types.ts` with the server and nothing else.
 *
 * kubegate answers its own API on the listener a person's kubeconfig already points at, authenticated
 * like any Kubernetes request. So the client loads the kubeconfig as kubectl would (`--kubeconfig FILE`,
 * else the `KUBECONFIG` list, else `~/.kube/config`; `--context NAME` or the current context), and lets
 * @kubernetes/client-node apply the cluster's CA, the client certificate and the `Authorization` header
 * (static token, token file or exec credential plugin) to every request. The request goes to the
 * cluster's server URL, path prefix kept, + `/kubegate/v1/...`.
 *
 * TLS is always verified: a cluster with `insecure-skip-tls-verify` or an `http://` server is refused
 * before any credential is produced, and verification is forced on even if NODE_TLS_REJECT_UNAUTHORIZED=0.
 * Answers are bounded ({@link MAX_RESPONSE_BYTES}) and every request has a deadline.
 *
 * Every failure is a {@link KubegateApiError} with a stable `code`; a refusal carries the server's
 * `Status` message, reason and HTTP code.
 */
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import type { Cluster, Context, KubeConfig as KubeConfigType, User } from '@kubernetes/client-node';
import type { Elevation, ElevationList, ElevationPhase, ElevationRequest } from '../elevation/types.js';
import { importKubeConfig } from '../upstream/kube-config.js';
import { safe } from './elevation-format.js';

/**
 * client-node's KubeConfig without its generated API clients, which this client never uses: the commands
 * import this module once their flags are known good, and it is ready when the import resolves.
 */
const KubeConfig = await importKubeConfig();
type KubeConfig = KubeConfigType;

/** The largest answer body read; anything longer is refused as API_BAD_RESPONSE. */
export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;
/** Default deadline for one request (connect, send, whole answer), in milliseconds. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
/** The collection's path under the server URL (and its path prefix). */
export const ELEVATIONS_PATH = '/kubegate/v1/elevations';

export { KubegateApiError, type KubegateApiErrorCode } from './kubegate-api-error.js';
import { KubegateApiError } from './kubegate-api-error.js';

/** Which kubeconfig and context to use: both optional, as kubectl's `--kubeconfig` and `--context`. */
export interface KubeconfigSelection {
  /** A kubeconfig file; overrides KUBECONFIG and ~/.kube/config. */
  kubeconfig?: string | undefined;
  /** A context name; overrides the kubeconfig's current-context. */
  context?: string | undefined;
}

export interface ClientSettings extends KubeconfigSelection {
  /** Deadline per request in milliseconds (default {@link DEFAULT_REQUEST_TIMEOUT_MS}). */
  timeoutMs?: number | undefined;
  /** Where the environment is read from (KUBECONFIG, HOME): process.env unless a test says otherwise. */
  env?: NodeJS.ProcessEnv | undefined;
}

/** kubegate's elevation API as seen by one person through one kubeconfig context. */
export interface ElevationClient {
  /** The collection URL (`<server><prefix>/kubegate/v1/elevations`), for messages. */
  readonly url: string;
  /** The kubeconfig context, cluster and user in use, for messages. */
  readonly context: string;
  readonly cluster: string;
  readonly user: string;
  /** `POST` the collection: 201 with the new Elevation (`Pending` or `Active`). */
  create(request: ElevationRequest): Promise<Elevation>;
  /** `GET` the collection: the caller's own elevations (everyone's for approvers). */
  list(): Promise<ElevationList>;
  get(id: string): Promise<Elevation>;
  approve(id: string): Promise<Elevation>;
  revoke(id: string): Promise<Elevation>;
}

/** The kubeconfig, narrowed to one verified https cluster. */
export interface LoadedKubeconfig {
  kc: KubeConfig;
  context: Context;
  cluster: Cluster;
  user: User;
  /** The cluster's server URL with the path prefix (no trailing slash). */
  server: URL;
  /** Where it came from, for messages: a file, or the KUBECONFIG list. */
  source: string;
}

/**
 * Load the person's kubeconfig the way kubectl does and select the context.
 *
 * `KUBECONFIG` is a list of files (`:`-separated; `;` on Windows): files that do not exist are skipped,
 * the first file to define a cluster, user or context by name wins, and the first `current-context` set
 * wins (client-node's own merge lets later files win and throws on duplicates, so the list is merged here).
 *
 * @throws KubegateApiError KUBECONFIG_INVALID: unreadable file, no or unknown context, the context's
 *   cluster or user missing, a server that is not an https URL, or `insecure-skip-tls-verify` set.
 */
export function loadKubeconfig(selection: KubeconfigSelection, env: NodeJS.ProcessEnv = process.env): LoadedKubeconfig {
  const kc = new KubeConfig();
  let source: string;
  try {
    if (selection.kubeconfig !== undefined) {
      source = selection.kubeconfig;
      kc.loadFromFile(selection.kubeconfig);
    } else if (env.KUBECONFIG) {
      source = `KUBECONFIG=${env.KUBECONFIG}`;
      mergeKubeconfigList(kc, env.KUBECONFIG.split(path.delimiter));
    } else {
      const home = env.HOME ?? os.homedir();
      source = path.join(home, '.kube', 'config');
      if (!fs.existsSync(source)) {
        throw new Error(`no kubeconfig: ${source} does not exist; pass --kubeconfig FILE or set KUBECONFIG`);
      }
      kc.loadFromFile(source);
    }
  } catch (err) {
    throw new KubegateApiError('KUBECONFIG_INVALID', `cannot load the kubeconfig: ${(err as Error).message}`, { cause: err });
  }
  const contextName = selection.context ?? kc.getCurrentContext();
  if (!contextName) {
    throw new KubegateApiError('KUBECONFIG_INVALID', `the kubeconfig (${source}) has no current-context; pass --context NAME`);
  }
  const context = kc.getContextObject(contextName);
  if (!context) {
    const known = kc.getContexts().map((c) => c.name);
    throw new KubegateApiError('KUBECONFIG_INVALID', `context ${JSON.stringify(contextName)} is not in the kubeconfig (${source}); it has ${known.length ? known.map((n) => JSON.stringify(n)).join(', ') : 'no contexts'}`);
  }
  kc.setCurrentContext(contextName);
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubegateApiError('KUBECONFIG_INVALID', `context ${JSON.stringify(contextName)} names cluster ${JSON.stringify(context.cluster)}, which is not in the kubeconfig`);
  const user = kc.getCurrentUser();
  if (!user) throw new KubegateApiError('KUBECONFIG_INVALID', `context ${JSON.stringify(contextName)} names user ${JSON.stringify(context.user)}, which is not in the kubeconfig`);
  if (cluster.skipTLSVerify) {
    throw new KubegateApiError(
      'KUBECONFIG_INVALID',
      `cluster ${JSON.stringify(cluster.name)} sets insecure-skip-tls-verify; kubegate sends your credential only to a server whose certificate verifies: set certificate-authority (or certificate-authority-data) instead`,
    );
  }
  let server: URL;
  try {
    server = new URL(cluster.server);
  } catch (err) {
    throw new KubegateApiError('KUBECONFIG_INVALID', `cluster ${JSON.stringify(cluster.name)} has server ${JSON.stringify(cluster.server)}, which is not a URL`, { cause: err });
  }
  if (server.protocol !== 'https:') {
    throw new KubegateApiError('KUBECONFIG_INVALID', `cluster ${JSON.stringify(cluster.name)} has server ${server.origin}: kubegate's API is only spoken over https`);
  }
  server.pathname = server.pathname.replace(/\/+$/, '');
  server.search = '';
  server.hash = '';
  return { kc, context, cluster, user, server, source };
}

/** kubectl's merge of a KUBECONFIG list: missing files skipped, first definition and first current-context win. */
function mergeKubeconfigList(kc: KubeConfig, files: string[]): void {
  const clusters = new Map<string, Cluster>();
  const users = new Map<string, User>();
  const contexts = new Map<string, Context>();
  let currentContext = '';
  const seen = new Set<string>();
  let loaded = 0;
  for (const file of files) {
    if (!file || seen.has(path.resolve(file))) continue;
    seen.add(path.resolve(file));
    if (!fs.existsSync(file)) continue;
    const one = new KubeConfig();
    one.loadFromFile(file); // resolves the file's relative paths against its own directory
    loaded++;
    for (const c of one.getClusters()) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.getUsers()) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.getContexts()) if (!contexts.has(c.name)) contexts.set(c.name, c);
    if (!currentContext && one.getCurrentContext()) currentContext = one.getCurrentContext();
  }
  if (loaded === 0) throw new Error('none of the files in KUBECONFIG exists; pass --kubeconfig FILE');
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
}

/**
 * A client for the elevation API of the kubegate the selected kubeconfig context points at.
 * Loads the kubeconfig now; credentials are produced per request (client-node caches an exec plugin's
 * credential until its `expirationTimestamp`).
 *
 * @example
 * const client = createElevationClient({ context: 'prod' });
 * const elevation = await client.create({ groups: ['oncall-admin'], durationSeconds: 900, reason: 'INC-4211' });
 * @throws KubegateApiError KUBECONFIG_INVALID (see {@link loadKubeconfig}).
 */
export function createElevationClient(settings: ClientSettings = {}): ElevationClient {
  const loaded = loadKubeconfig(settings, settings.env ?? process.env);
  const timeoutMs = settings.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const collection = `${loaded.server.href.replace(/\/+$/, '')}${ELEVATIONS_PATH}`;
  const item = (id: string) => `${collection}/${encodeURIComponent(id)}`;
  const call = <T>(method: 'GET' | 'POST', url: string, body: unknown, check: (v: unknown) => v is T) =>
    request(loaded, { method, url, body, timeoutMs, isCollection: url === collection }).then((answer) => {
      if (!check(answer)) throw new KubegateApiError('API_BAD_RESPONSE', `${method} ${url} answered JSON that is not ${check === isElevationList ? 'an ElevationList' : 'an Elevation'}`, { url });
      return answer;
    });
  return {
    url: collection,
    context: loaded.context.name,
    cluster: loaded.cluster.name,
    user: loaded.user.name,
    create: (req) => call('POST', collection, req, isElevation),
    list: () => call('GET', collection, undefined, isElevationList),
    get: (id) => call('GET', item(id), undefined, isElevation),
    approve: (id) => call('POST', `${item(id)}/approve`, undefined, isElevation),
    revoke: (id) => call('POST', `${item(id)}/revoke`, undefined, isElevation),
  };
}

/** One request to kubegate's own API (shared by the elevation and revocation clients). */
export interface RequestSpec {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  body: unknown;
  timeoutMs: number;
  /** 404 here means "no elevation API", not "no such elevation". */
  isCollection: boolean;
  /** Which of kubegate's APIs, for that 404's message (default `elevation`). */
  api?: string;
}

/** Build the TLS and credential options for one request from the kubeconfig. */
async function requestOptions(loaded: LoadedKubeconfig, spec: RequestSpec): Promise<https.RequestOptions> {
  // rejectUnauthorized set before client-node builds its agent: it copies it onto the agent, so verification
  // stays on even with NODE_TLS_REJECT_UNAUTHORIZED=0 (a skipping cluster was refused when loading).
  const opts: https.RequestOptions = { method: spec.method, headers: {}, rejectUnauthorized: true };
  const exec = loaded.user.exec as { apiVersion?: unknown } | undefined;
  if (exec) {
    // What kubectl tells an exec plugin. client-node pipes the plugin's stdin and keeps its stderr, so the
    // plugin cannot prompt: it must use a cached login or fail (its stderr is shown on failure).
    process.env.KUBERNETES_EXEC_INFO = JSON.stringify({
      kind: 'ExecCredential',
      apiVersion: typeof exec.apiVersion === 'string' ? exec.apiVersion : 'client.authentication.k8s.io/v1',
      spec: { interactive: false },
    });
  }
  try {
    await loaded.kc.applyToHTTPSOptions(opts);
  } catch (err) {
    const detail = safe(String((err as Error).message ?? err)).trim().slice(0, 500) || (err as NodeJS.ErrnoException).code || 'no message';
    throw new KubegateApiError('CREDENTIAL_FAILED', `cannot get the credential of kubeconfig user ${JSON.stringify(loaded.user.name)}: ${detail}`, { cause: err });
  }
  const headers = (opts.headers ?? {}) as Record<string, string | string[] | number | undefined>;
  // kubegate's own API acts for the person who logged in; a kubeconfig `as:` has no meaning there.
  for (const name of Object.keys(headers)) if (/^impersonate-/i.test(name)) delete headers[name];
  headers.accept = 'application/json';
  headers['user-agent'] = 'kubegate-cli';
  opts.headers = headers;
  return opts;
}

/** One request: JSON in, JSON out; a `Status` failure becomes API_REFUSED (or API_NOT_CONFIGURED). */
export async function request(loaded: LoadedKubeconfig, spec: RequestSpec): Promise<unknown> {
  const opts = await requestOptions(loaded, spec);
  const payload = spec.body === undefined ? undefined : Buffer.from(JSON.stringify(spec.body));
  const headers = opts.headers as Record<string, string | number>;
  if (payload) headers['content-type'] = 'application/json';
  if (payload || spec.method === 'POST') headers['content-length'] = payload?.length ?? 0; // a bodiless POST says so, no chunking
  const { status, body } = await new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    let settled = false;
    const fail = (err: KubegateApiError) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      reject(err);
    };
    const req = https.request(spec.url, opts, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_RESPONSE_BYTES) {
          fail(new KubegateApiError('API_BAD_RESPONSE', `${spec.method} ${spec.url}: the answer is larger than ${MAX_RESPONSE_BYTES} bytes`, { url: spec.url, status: res.statusCode }));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(deadline);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) });
      });
      res.on('error', (err) => fail(unreachable(spec.url, err)));
    });
    const deadline = setTimeout(
      () => fail(new KubegateApiError('API_TIMEOUT', `no answer from kubegate at ${spec.url} within ${Math.round(spec.timeoutMs / 100) / 10}s`, { url: spec.url })),
      spec.timeoutMs,
    );
    req.on('error', (err) => fail(unreachable(spec.url, err)));
    req.end(payload);
  });

  let json: unknown;
  try {
    json = body.length ? JSON.parse(body.toString('utf8')) : undefined;
  } catch {
    json = undefined;
  }
  if (status >= 200 && status < 300) {
    if (json === undefined) throw new KubegateApiError('API_BAD_RESPONSE', `${spec.method} ${spec.url} answered ${status} without a JSON body (is this a kubegate?)`, { url: spec.url, status });
    return json;
  }
  const st = asStatus(json);
  if (status === 404 && spec.isCollection) {
    throw new KubegateApiError('API_NOT_CONFIGURED', `kubegate has no ${spec.api ?? 'elevation'} API at ${spec.url} (is ${spec.api ?? 'elevation'} configured?)${st ? `; the server said: ${safe(st.message)}` : ''}`, {
      url: spec.url,
      status,
      ...(st?.reason !== undefined ? { reason: st.reason } : {}),
    });
  }
  if (st) {
    const hint = status === 401 ? ` (kubegate did not accept the credential of kubeconfig user ${JSON.stringify(loaded.user.name)}: log in again)` : '';
    throw new KubegateApiError('API_REFUSED', `${safe(st.message) || `${status} ${st.reason ?? ''}`.trim()}${hint}`, { url: spec.url, status, ...(st.reason !== undefined ? { reason: st.reason } : {}) });
  }
  const excerpt = safe(body.subarray(0, 200).toString('utf8')).replace(/\s+/g, ' ').trim();
  throw new KubegateApiError('API_BAD_RESPONSE', `${spec.method} ${spec.url} answered ${status} without a Kubernetes Status${excerpt ? `: ${excerpt}` : ''}`, { url: spec.url, status });
}

function unreachable(url: string, err: Error): KubegateApiError {
  const code = (err as NodeJS.ErrnoException).code;
  const tlsCodes = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|HOSTNAME|ERR_TLS|ERR_SSL/;
  const what = code && tlsCodes.test(code) ? `the server's TLS certificate does not verify against the kubeconfig's certificate authority (${err.message})` : `${err.message}${code && !err.message.includes(code) ? ` (${code})` : ''}`;
  return new KubegateApiError('API_UNREACHABLE', `cannot reach kubegate at ${url}: ${what}`, { url, cause: err });
}

/** The fields of a Kubernetes `Status` failure, if `value` is one. */
function asStatus(value: unknown): { message: string; reason: string | undefined } | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const v = value as Record<string, unknown>;
  if (v.kind !== 'Status' || typeof v.message !== 'string') return undefined;
  return { message: v.message, reason: typeof v.reason === 'string' ? v.reason : undefined };
}

const PHASES: readonly ElevationPhase[] = ['Pending', 'Active', 'Revoked', 'Expired'];
const OPTIONAL_STRINGS = ['reason', 'rule', 'createdAt', 'pendingExpiresAt', 'approvedBy', 'approvedAt', 'activeAt', 'expiresAt', 'revokedBy', 'revokedAt'] as const;

function isElevation(v: unknown): v is Elevation {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return (
    typeof e.id === 'string' &&
    typeof e.requester === 'string' &&
    Array.isArray(e.groups) &&
    e.groups.every((g) => typeof g === 'string') &&
    typeof e.phase === 'string' &&
    (PHASES as readonly string[]).includes(e.phase) &&
    OPTIONAL_STRINGS.every((k) => e[k] === undefined || typeof e[k] === 'string') &&
    (e.durationSeconds === undefined || typeof e.durationSeconds === 'number')
  );
}

function isElevationList(v: unknown): v is ElevationList {
  return typeof v === 'object' && v !== null && Array.isArray((v as { items?: unknown }).items) && (v as { items: unknown[] }).items.every(isElevation);
}
