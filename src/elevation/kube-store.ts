/**
 * ElevationStore on the Kubernetes API: one namespaced custom resource `Elevation`
 * (kubegate.io/v1alpha1, plural `elevations`, manifests/rbac/elevation-store/elevation-crd.yaml) per grant, read and written as
 * kubegate itself (its own credential, never impersonating), so every replica shares the same grants.
 *
 * - Writes: `create` POSTs the object; `update` replaces the whole object (spec and status; the CRD has no
 *   status subresource) with PUT carrying `metadata.resourceVersion`, so the API server refuses a stale
 *   version with 409 → ELEVATION_CONFLICT: two racing approvals cannot both win. The written object is
 *   applied to the local view at once (the writing replica does not wait for its watch).
 * - Local view: client-node's informer (`makeInformer`: list, then watch from the list's resourceVersion;
 *   after a clean end of the watch it resumes from the last version seen; after 410 Gone it relists). The
 *   informer does not restart after an error (a failed list, a refused or broken watch): this store does,
 *   with a fresh informer (so a full relist, which also catches deletions missed while disconnected) after
 *   a backoff (250 ms doubling to 5 s, ±20 % jitter; back to 250 ms once a watch held 10 s). While the API server is unreachable `snapshot()`
 *   keeps the last view and writes throw ELEVATION_STORE_UNAVAILABLE.
 * - Errors: ApiException and network errors are translated here, once, into KubegateError codes
 *   (ELEVATION_CONFLICT, ELEVATION_NOT_FOUND, ELEVATION_STORE_UNAVAILABLE; ELEVATION_INVALID when the
 *   CRD's schema refuses the object, 422), the original kept as `cause`. Nothing logged carries a credential.
 *
 * RBAC it needs (namespace-scoped Role): get, list, watch, create, update on `elevations.kubegate.io`.
 */
import {
  ApiException,
  CustomObjectsApi,
  makeInformer,
  Observable,
  type ConfigurationOptions,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObservableMiddleware,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { KubegateError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { createLocalView, plainCopy } from './local-view.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, ELEVATION_KIND, ELEVATION_PLURAL, type Elevation, type ElevationPhase, type ElevationStore } from './types.js';

export interface KubeElevationStoreOptions {
  /** kubegate's own credential for the API server (the `upstream` kubeconfig or the in-cluster account). */
  kubeConfig: KubeConfig;
  /** Where the Elevation objects live (e.g. `kubegate`). */
  namespace: string;
  log: Logger;
  /** Time limit of each get/create/update/list call, in ms (default 10 000). Watches are not limited. */
  requestTimeoutMs?: number;
  /** Delay before restarting a failed list/watch: `initialMs` doubling up to `maxMs` (default 250 / 5000). */
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** A list+watch that held this long resets the reconnect backoff. */
const HEALTHY_WATCH_MS = 10_000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const PHASES: readonly ElevationPhase[] = ['Pending', 'Active', 'Revoked', 'Expired'];

/** The custom resource as stored in the API server. */
export interface ElevationResource extends KubernetesObject {
  apiVersion: `${typeof ELEVATION_API_GROUP}/${typeof ELEVATION_API_VERSION}`;
  kind: typeof ELEVATION_KIND;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  /** What was asked: fixed at creation. */
  spec: Pick<Elevation, 'requester' | 'groups' | 'durationSeconds' | 'reason' | 'rule'>;
  /** The lifecycle. */
  status: Pick<Elevation, 'phase' | 'createdAt' | (typeof STATUS_FIELDS)[number]>;
}

const STATUS_FIELDS = ['pendingExpiresAt', 'approvedBy', 'approvedAt', 'activeAt', 'expiresAt', 'revokedBy', 'revokedAt'] as const;

/** Elevation → custom resource (the one place that knows the mapping, with {@link fromResource}). */
export function toResource(e: Elevation, namespace: string): ElevationResource {
  const status: ElevationResource['status'] = { phase: e.phase, createdAt: e.createdAt };
  for (const field of STATUS_FIELDS) if (e[field] !== undefined) status[field] = e[field];
  return {
    apiVersion: `${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}`,
    kind: ELEVATION_KIND,
    metadata: { name: e.id, namespace, ...(e.resourceVersion !== undefined ? { resourceVersion: e.resourceVersion } : {}) },
    spec: { requester: e.requester, groups: [...e.groups], durationSeconds: e.durationSeconds, reason: e.reason, rule: e.rule },
    status,
  };
}

/**
 * Custom resource → Elevation, checking every field's type (an object edited by hand may be anything).
 * @returns the elevation, or the first problem found.
 */
export function fromResource(obj: unknown): { elevation: Elevation } | { problem: string } {
  const o = obj as Partial<ElevationResource> | null;
  const name = o?.metadata?.name;
  if (typeof name !== 'string' || !name) return { problem: 'metadata.name missing' };
  const spec = o?.spec as Record<string, unknown> | undefined;
  const status = o?.status as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') return { problem: 'spec missing' };
  if (!status || typeof status !== 'object') return { problem: 'status missing' };
  for (const field of ['requester', 'reason', 'rule'] as const) if (typeof spec[field] !== 'string') return { problem: `spec.${field} is not a string` };
  if (!Array.isArray(spec.groups) || !spec.groups.every((g) => typeof g === 'string')) return { problem: 'spec.groups is not a list of strings' };
  if (typeof spec.durationSeconds !== 'number' || !Number.isInteger(spec.durationSeconds) || spec.durationSeconds <= 0) return { problem: 'spec.durationSeconds is not a positive integer' };
  if (!PHASES.includes(status.phase as ElevationPhase)) return { problem: 'status.phase is not a known phase' };
  if (typeof status.createdAt !== 'string') return { problem: 'status.createdAt is not a string' };
  const elevation: Elevation = {
    id: name,
    requester: spec.requester as string,
    groups: [...(spec.groups as string[])],
    durationSeconds: spec.durationSeconds,
    reason: spec.reason as string,
    rule: spec.rule as string,
    phase: status.phase as ElevationPhase,
    createdAt: status.createdAt,
  };
  for (const field of STATUS_FIELDS) {
    const value = status[field];
    if (value === undefined || value === null) continue;
    if (typeof value !== 'string') return { problem: `status.${field} is not a string` };
    elevation[field] = value;
  }
  const rv = o?.metadata?.resourceVersion;
  if (typeof rv === 'string' && rv) elevation.resourceVersion = rv;
  return { elevation };
}

/**
 * Open the store: starts listing and watching at once; `ready()` resolves after the first list.
 *
 * @example
 * ```ts
 * const kc = new KubeConfig();
 * kc.loadFromCluster();
 * const store = createKubeElevationStore({ kubeConfig: kc, namespace: 'kubegate', log });
 * await store.ready();
 * store.onChange((event) => log.info('elevation change', { type: event.type }));
 * ```
 * @throws TypeError when `namespace` is not a DNS label.
 */
export function createKubeElevationStore(opts: KubeElevationStoreOptions): ElevationStore {
  const { kubeConfig, namespace, log } = opts;
  if (!DNS_LABEL.test(namespace)) throw new TypeError(`createKubeElevationStore: namespace must be a DNS label, got ${JSON.stringify(namespace)}`);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const initialDelay = opts.reconnect?.initialMs ?? 250;
  const maxDelay = opts.reconnect?.maxMs ?? 5_000;
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const where = { group: ELEVATION_API_GROUP, version: ELEVATION_API_VERSION, namespace, plural: ELEVATION_PLURAL };
  const collectionPath = `/apis/${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}/namespaces/${namespace}/${ELEVATION_PLURAL}`;
  const view = createLocalView(log, 'kubernetes');

  /**
   * Per-call options: a time limit on the request (client-node sets none). The object-parameter API
   * takes client-node's Observable-style middleware here, not the Promise-style one.
   */
  const timeLimit: ObservableMiddleware = {
    pre: (ctx: RequestContext) => (ctx.setSignal(AbortSignal.timeout(requestTimeoutMs)), new Observable(Promise.resolve(ctx))),
    post: (res: ResponseContext) => new Observable(Promise.resolve(res)),
  };
  const limited = (): ConfigurationOptions => ({ middleware: [timeLimit], middlewareMergeStrategy: 'append' });

  let closed = false;
  let synced = false;
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject)));
  readyPromise.catch(() => {}); // a store closed before its first list: only callers of ready() hear of it

  // ---- the local view, kept by the informer ----
  let generation = 0;
  let informer: ReturnType<typeof makeInformer<ElevationResource>> | undefined;
  let attempt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let disconnectedSince: number | undefined;
  /** When the current list+watch was established (the backoff resets only after it held a while). */
  let watchingSince: number | undefined;

  const applyObject = (obj: unknown) => {
    const parsed = fromResource(obj);
    if ('elevation' in parsed) return void view.upsert(parsed.elevation);
    const name = (obj as KubernetesObject | undefined)?.metadata?.name;
    log.warn('elevation store: ignoring an Elevation object kubegate cannot read', { name, problem: parsed.problem });
    if (typeof name === 'string') view.remove(name); // fail closed: a grant kubegate cannot read grants nothing
  };

  function startInformer(): void {
    const mine = ++generation;
    const current = () => mine === generation && !closed;
    // The watch ends itself after 5-10 min (as client-go's reflector does), so a connection that died
    // silently is replaced; the informer then resumes from its last resourceVersion.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const inf = makeInformer<ElevationResource>(kubeConfig, `${collectionPath}?allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}`, async () => {
      if (!current()) throw new Error('elevation store: superseded informer');
      const list = (await api.listNamespacedCustomObject(where, limited())) as KubernetesListObject<ElevationResource>;
      if (!current()) throw new Error('elevation store: superseded informer');
      applyListing(list);
      return list;
    });
    informer = inf;
    inf.on('add', (obj) => current() && applyObject(obj));
    inf.on('update', (obj) => current() && applyObject(obj));
    inf.on('delete', (obj) => current() && view.remove(obj.metadata?.name ?? '', obj.metadata?.resourceVersion));
    inf.on('error', (err) => current() && failed(err));
    void inf.start().then(() => {
      if (!current()) return void inf.stop(); // stopped while it was connecting: end the watch it just opened
      if (disconnectedSince !== undefined) {
        log.info('elevation store: watching again', { namespace, downMs: Date.now() - disconnectedSince });
        disconnectedSince = undefined;
      }
      watchingSince = Date.now();
    }, (err: unknown) => current() && failed(err));
  }

  function applyListing(list: KubernetesListObject<ElevationResource>): void {
    const items: Elevation[] = [];
    for (const obj of list.items ?? []) {
      const parsed = fromResource(obj);
      if ('elevation' in parsed) items.push(parsed.elevation);
      else log.warn('elevation store: ignoring an Elevation object kubegate cannot read', { name: obj?.metadata?.name, problem: parsed.problem });
    }
    view.reset(items, { listResourceVersion: list.metadata?.resourceVersion });
    if (!synced) {
      synced = true;
      resolveReady();
    }
  }

  function failed(err: unknown): void {
    generation++; // retire the failing informer: nothing it reports from now on is applied
    void informer?.stop();
    disconnectedSince ??= Date.now();
    // A watch that held for a while starts the backoff afresh; one that fails at once keeps it growing.
    if (watchingSince !== undefined && Date.now() - watchingSince >= HEALTHY_WATCH_MS) attempt = 0;
    watchingSince = undefined;
    const base = Math.min(maxDelay, initialDelay * 2 ** attempt++);
    const delay = Math.round(base * (0.8 + 0.4 * Math.random()));
    log.warn('elevation store: list/watch failed; keeping the last view and retrying', { namespace, error: describe(err), attempt, retryInMs: delay });
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (!closed) startInformer();
    }, delay);
  }

  startInformer();

  // ---- reads and writes, straight to the API server ----
  const unavailableIfClosed = (op: string) => {
    if (closed) throw new KubegateError('ELEVATION_STORE_UNAVAILABLE', `elevation store: ${op} after close`);
  };
  const readBack = (obj: unknown, op: string, id: string): Elevation => {
    const parsed = fromResource(obj);
    if ('problem' in parsed) throw new KubegateError('INTERNAL', `elevation store: the API server returned an unreadable Elevation on ${op}`, { details: { elevation: id, problem: parsed.problem } });
    return parsed.elevation;
  };

  return {
    ready: () => readyPromise,

    async create(elevation) {
      unavailableIfClosed('create');
      if (!DNS_LABEL.test(elevation.id)) throw new TypeError(`create: elevation.id must be a DNS label, got ${JSON.stringify(elevation.id)}`);
      const body = toResource({ ...elevation, resourceVersion: undefined }, namespace);
      let created: unknown;
      try {
        created = await api.createNamespacedCustomObject({ ...where, body }, limited());
      } catch (err) {
        throw translate(err, 'create', elevation.id);
      }
      const stored = readBack(created, 'create', elevation.id);
      view.upsert(stored);
      return plainCopy(stored);
    },

    async update(elevation) {
      unavailableIfClosed('update');
      if (!elevation.resourceVersion) throw new TypeError('update: elevation.resourceVersion is required (the version read, for optimistic concurrency)');
      let replaced: unknown;
      try {
        replaced = await api.replaceNamespacedCustomObject({ ...where, name: elevation.id, body: toResource(elevation, namespace) }, limited());
      } catch (err) {
        throw translate(err, 'update', elevation.id);
      }
      const stored = readBack(replaced, 'update', elevation.id);
      view.upsert(stored);
      return plainCopy(stored);
    },

    async get(id) {
      unavailableIfClosed('get');
      if (!DNS_LABEL.test(id)) return undefined; // cannot exist (and must not become another path)
      let obj: unknown;
      try {
        obj = await api.getNamespacedCustomObject({ ...where, name: id }, limited());
      } catch (err) {
        const e = translate(err, 'get', id);
        if (e.code === 'ELEVATION_NOT_FOUND') return undefined;
        throw e;
      }
      return plainCopy(readBack(obj, 'get', id));
    },

    snapshot: () => view.snapshot(),
    onChange: (listener) => view.onChange(listener),

    close() {
      if (closed) return;
      closed = true;
      generation++;
      clearTimeout(restartTimer);
      void informer?.stop();
      view.clear();
      if (!synced) rejectReady(new KubegateError('ELEVATION_STORE_UNAVAILABLE', 'elevation store closed before its first list'));
    },
  };
}

/** A library error as a KubegateError: the one translation of client-node's errors for this store. */
function translate(err: unknown, op: 'create' | 'update' | 'get', id: string): KubegateError {
  if (err instanceof KubegateError) return err;
  const details = { operation: op, elevation: id };
  if (err instanceof ApiException) {
    const code = err.code;
    const body = statusOf(err.body);
    const withStatus = { cause: err, details: { ...details, status: code } };
    if (code === 409) {
      return new KubegateError('ELEVATION_CONFLICT', op === 'create' ? `elevation ${id} already exists` : `elevation ${id} was changed concurrently (stale resourceVersion)`, withStatus);
    }
    // 404 names the object when the object is missing; otherwise the resource itself is not served.
    if (code === 404 && body.details?.name === id) return new KubegateError('ELEVATION_NOT_FOUND', `elevation ${id} does not exist`, withStatus);
    if (code === 404) return new KubegateError('ELEVATION_STORE_UNAVAILABLE', 'the API server does not serve elevations.kubegate.io in this namespace (is the CRD installed?)', withStatus);
    if (code === 401 || code === 403) return new KubegateError('ELEVATION_STORE_UNAVAILABLE', `the API server refused kubegate's own credential for elevations.kubegate.io (${code}: check its RBAC)`, withStatus);
    // 422: the CRD's schema refused the object (a limit such as reason ≤ 1024 characters, or a rule such as
    // "a Revoked elevation stays Revoked"); 400: a request kubegate should never have sent.
    if (code === 422) return new KubegateError('ELEVATION_INVALID', 'the API server refused the Elevation object (422: see manifests/rbac/elevation-store/elevation-crd.yaml for its limits)', withStatus);
    if (code === 400) return new KubegateError('INTERNAL', 'the API server refused the request for the Elevation object (400)', withStatus);
    return new KubegateError('ELEVATION_STORE_UNAVAILABLE', `the API server answered ${code} to ${op}`, withStatus);
  }
  return new KubegateError('ELEVATION_STORE_UNAVAILABLE', `the API server is unreachable (${describe(err)})`, { cause: err, details });
}

/** The Kubernetes `Status` in an error body (client-node hands the body over as text). */
function statusOf(body: unknown): { details?: { name?: string } } {
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return {};
    }
  }
  return typeof body === 'object' && body !== null ? (body as { details?: { name?: string } }) : {};
}

/** A short, secret-free description of a list/watch/request failure for the log. */
function describe(err: unknown): string {
  if (err instanceof ApiException) return `HTTP ${err.code}`;
  const e = err as { name?: string; code?: string | number; statusCode?: number; type?: string } | undefined;
  if (e?.statusCode) return `HTTP ${e.statusCode}`;
  return [e?.name, e?.code ?? e?.type].filter(Boolean).join(' ') || 'unknown error';
}
