/**
 * A ReplicatedStore on the Kubernetes API, generic over the record type: one namespaced custom resource
 * per record (elevations.kubegate.io, revocations.kubegate.io, ...), read and written as kubegate itself
 * (its own credential, never impersonating), so every replica shares the same records.
 *
 * - Writes: `create` POSTs the object; `update` replaces the whole object with PUT carrying
 *   `metadata.resourceVersion`, so the API server refuses a stale version with 409 → the conflict code;
 *   `delete` DELETEs it. The written object is applied to the local view at once (the writing replica does
 *   not wait for its watch).
 * - Local view: client-node's informer (`makeInformer`: list, then watch from the list's resourceVersion;
 *   after a clean end of the watch it resumes from the last version seen; after 410 Gone it relists). The
 *   informer does not restart after an error (a failed list, a refused or broken watch): this store does,
 *   with a fresh informer (so a full relist, which also catches deletions missed while disconnected) after
 *   a backoff (250 ms doubling to 5 s, ±20 % jitter; back to 250 ms once a watch held 10 s). While the API
 *   server is unreachable `snapshot()` keeps the last view and writes throw the unavailable code.
 * - Errors: ApiException and network errors are translated here, once, into the record type's KubegateError
 *   codes (conflict, not found, unavailable; invalid when the CRD's schema refuses the object, 422), the
 *   original kept as `cause`. Nothing logged carries a credential.
 *
 * RBAC it needs (namespace-scoped Role): get, list, watch, create, update (and delete, for records that are
 * deleted) on the resource.
 */
import {
  ApiException,
  CustomObjectsApi,
  ListWatch,
  Observable,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { KubegateError } from '../errors/errors.js';
import type { Logger } from '../log/logger.js';
import { timeLimited } from '../upstream/time-limit.js';
import { createLocalView } from './local-view.js';
import type { ReplicatedStore, StoredItem, StoreRecordType } from './types.js';

export interface KubeStoreOptions {
  /** kubegate's own credential for the API server (the `upstream` kubeconfig or the in-cluster account). */
  kubeConfig: KubeConfig;
  /** Where the objects live (e.g. `kubegate`). */
  namespace: string;
  log: Logger;
  /** Time limit of each get/create/update/delete/list call, in ms (default 10 000). Watches are not limited. */
  requestTimeoutMs?: number;
  /** Delay before restarting a failed list/watch: `initialMs` doubling up to `maxMs` (default 250 / 5000). */
  reconnect?: { initialMs?: number; maxMs?: number };
}

/** A record type as the Kubernetes store needs it: its resource, and the mapping both ways. */
export interface KubeRecordType<T extends StoredItem> extends StoreRecordType<T> {
  group: string;
  version: string;
  kind: string;
  plural: string;
  /** Where the CRD is, for messages (`manifests/...`). */
  crdFile: string;
  toResource(item: T, namespace: string): KubernetesObject;
  /** Checks every field's type (an object edited by hand may be anything). */
  fromResource(obj: unknown): { item: T } | { problem: string };
}

/** A list+watch that held this long resets the reconnect backoff. */
const HEALTHY_WATCH_MS = 10_000;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * Open the store: starts listing and watching at once; `ready()` resolves after the first list.
 *
 * @example
 * ```ts
 * const kc = new KubeConfig();
 * kc.loadFromCluster();
 * const store = createKubeStore({ kubeConfig: kc, namespace: 'kubegate', log }, revocationResource);
 * await store.ready();
 * store.onChange((event) => log.info('revocation change', { type: event.type }));
 * ```
 * @throws TypeError when `namespace` is not a DNS label.
 */
export function createKubeStore<T extends StoredItem>(opts: KubeStoreOptions, type: KubeRecordType<T>): ReplicatedStore<T> {
  const { kubeConfig, namespace, log } = opts;
  const { noun, codes, copies, kind, plural, group } = type;
  const translate = (err: unknown, op: 'create' | 'update' | 'get' | 'delete', id: string) => translateError(type, err, op, id);
  if (!DNS_LABEL.test(namespace)) throw new TypeError(`createKubeStore: namespace must be a DNS label, got ${JSON.stringify(namespace)}`);
  const requestTimeoutMs = opts.requestTimeoutMs ?? 10_000;
  const initialDelay = opts.reconnect?.initialMs ?? 250;
  const maxDelay = opts.reconnect?.maxMs ?? 5_000;
  const api = kubeConfig.makeApiClient(CustomObjectsApi);
  const where = { group, version: type.version, namespace, plural };
  const collectionPath = `/apis/${group}/${type.version}/namespaces/${namespace}/${plural}`;
  const view = createLocalView<T>(log, 'kubernetes', noun, copies);

  /** Per-call options: a time limit on the request (client-node sets none). */
  const limited = () => timeLimited(Observable, requestTimeoutMs);

  let closed = false;
  let synced = false;
  let resolveReady!: () => void;
  let rejectReady!: (err: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => ((resolveReady = resolve), (rejectReady = reject)));
  readyPromise.catch(() => {}); // a store closed before its first list: only callers of ready() hear of it

  // ---- the local view, kept by the informer ----
  let generation = 0;
  let informer: ListWatch<KubernetesObject> | undefined;
  let attempt = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let disconnectedSince: number | undefined;
  /** When the current list+watch was established (the backoff resets only after it held a while). */
  let watchingSince: number | undefined;

  const applyObject = (obj: unknown) => {
    const parsed = type.fromResource(obj);
    if ('item' in parsed) return void view.upsert(parsed.item);
    const name = (obj as KubernetesObject | undefined)?.metadata?.name;
    log.warn(`${noun} store: ignoring ${article(kind)} object kubegate cannot read`, { name, problem: parsed.problem });
    if (typeof name === 'string') view.remove(name); // fail closed: a record kubegate cannot read does nothing
  };

  function startInformer(): void {
    const mine = ++generation;
    const current = () => mine === generation && !closed;
    // The watch ends itself after 5-10 min (as client-go's reflector does), so a connection that died
    // silently is replaced; the informer then resumes from its last resourceVersion.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const inf = new ListWatch<KubernetesObject>(`${collectionPath}?allowWatchBookmarks=true&timeoutSeconds=${timeoutSeconds}`, new RetiringWatch(kubeConfig, current), async () => {
      if (!current()) throw new Error(`${noun} store: superseded informer`);
      const list = (await api.listNamespacedCustomObject(where, limited())) as KubernetesListObject<KubernetesObject>;
      if (!current()) throw new Error(`${noun} store: superseded informer`);
      applyListing(list);
      return list;
    }, false);
    informer = inf;
    inf.on('add', (obj) => current() && applyObject(obj));
    inf.on('update', (obj) => current() && applyObject(obj));
    inf.on('delete', (obj) => current() && view.remove(obj.metadata?.name ?? '', obj.metadata?.resourceVersion));
    inf.on('error', (err) => current() && failed(err));
    void inf.start().then(() => {
      if (!current()) return;
      if (disconnectedSince !== undefined) {
        log.info(`${noun} store: watching again`, { namespace, downMs: Date.now() - disconnectedSince });
        disconnectedSince = undefined;
      }
      watchingSince = Date.now();
    }, (err: unknown) => current() && failed(err));
  }

  function applyListing(list: KubernetesListObject<KubernetesObject>): void {
    const items: T[] = [];
    for (const obj of list.items ?? []) {
      const parsed = type.fromResource(obj);
      if ('item' in parsed) items.push(parsed.item);
      else log.warn(`${noun} store: ignoring ${article(kind)} object kubegate cannot read`, { name: obj?.metadata?.name, problem: parsed.problem });
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
    log.warn(`${noun} store: list/watch failed; keeping the last view and retrying`, { namespace, error: describe(err), attempt, retryInMs: delay });
    clearTimeout(restartTimer);
    restartTimer = setTimeout(() => {
      restartTimer = undefined;
      if (!closed) startInformer();
    }, delay);
  }

  startInformer();

  // ---- reads and writes, straight to the API server ----
  const unavailableIfClosed = (op: string) => {
    if (closed) throw new KubegateError(codes.unavailable, `${noun} store: ${op} after close`);
  };
  const readBack = (obj: unknown, op: string, id: string): T => {
    const parsed = type.fromResource(obj);
    if ('problem' in parsed) throw new KubegateError('INTERNAL', `${noun} store: the API server returned an unreadable ${kind} on ${op}`, { details: { [noun]: id, problem: parsed.problem } });
    return parsed.item;
  };

  return {
    ready: () => readyPromise,

    async create(item) {
      unavailableIfClosed('create');
      if (!DNS_LABEL.test(item.id)) throw new TypeError(`create: ${noun}.id must be a DNS label, got ${JSON.stringify(item.id)}`);
      const body = type.toResource({ ...item, resourceVersion: undefined }, namespace);
      let created: unknown;
      try {
        created = await api.createNamespacedCustomObject({ ...where, body }, limited());
      } catch (err) {
        throw translate(err, 'create', item.id);
      }
      const stored = readBack(created, 'create', item.id);
      view.upsert(stored);
      return copies.plain(stored);
    },

    async update(item) {
      unavailableIfClosed('update');
      if (!item.resourceVersion) throw new TypeError(`update: ${noun}.resourceVersion is required (the version read, for optimistic concurrency)`);
      let replaced: unknown;
      try {
        replaced = await api.replaceNamespacedCustomObject({ ...where, name: item.id, body: type.toResource(item, namespace) }, limited());
      } catch (err) {
        throw translate(err, 'update', item.id);
      }
      const stored = readBack(replaced, 'update', item.id);
      view.upsert(stored);
      return copies.plain(stored);
    },

    async get(id) {
      unavailableIfClosed('get');
      if (!DNS_LABEL.test(id)) return undefined; // cannot exist (and must not become another path)
      let obj: unknown;
      try {
        obj = await api.getNamespacedCustomObject({ ...where, name: id }, limited());
      } catch (err) {
        const e = translate(err, 'get', id);
        if (e.code === codes.notFound) return undefined;
        throw e;
      }
      return copies.plain(readBack(obj, 'get', id));
    },

    async delete(id) {
      unavailableIfClosed('delete');
      if (!DNS_LABEL.test(id)) return false;
      let gone: unknown;
      try {
        gone = await api.deleteNamespacedCustomObject({ ...where, name: id }, limited());
      } catch (err) {
        const e = translate(err, 'delete', id);
        if (e.code === codes.notFound) return false;
        throw e;
      }
      // The API server answers the deleted object (or a Status); its resourceVersion orders a late copy.
      const rv = (gone as KubernetesObject | undefined)?.metadata?.resourceVersion;
      view.remove(id, typeof rv === 'string' ? rv : undefined);
      return true;
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
      if (!synced) rejectReady(new KubegateError(codes.unavailable, `${noun} store closed before its first list`));
    },
  };
}

/**
 * client-node's Watch, but a watch that opens after its informer was retired (the store closed, or a
 * failure replaced the informer) is ended at once. ListWatch.stop() only aborts the watch it already holds:
 * one it is still opening — at start, or resuming after the server ended the last one — would otherwise
 * stay open for the store's lifetime, a connection and its events nobody reads.
 */
class RetiringWatch extends Watch {
  constructor(
    config: KubeConfig,
    private readonly current: () => boolean,
  ) {
    super(config);
  }

  override async watch(...args: Parameters<Watch['watch']>): Promise<AbortController> {
    const request = await super.watch(...args);
    if (!this.current()) request.abort();
    return request;
  }
}

/** A library error as a KubegateError: the one translation of client-node's errors for this store. */
function translateError(type: StoreRecordType<StoredItem> & Pick<KubeRecordType<StoredItem>, 'plural' | 'group' | 'kind' | 'crdFile'>, err: unknown, op: 'create' | 'update' | 'get' | 'delete', id: string): KubegateError {
  if (err instanceof KubegateError) return err;
  const { noun, codes } = type;
  const resource = `${type.plural}.${type.group}`;
  const details = { operation: op, [noun]: id };
  if (err instanceof ApiException) {
    const code = err.code;
    const body = statusOf(err.body);
    const withStatus = { cause: err, details: { ...details, status: code } };
    if (code === 409) {
      return new KubegateError(codes.conflict, op === 'create' ? `${noun} ${id} already exists` : `${noun} ${id} was changed concurrently (stale resourceVersion)`, withStatus);
    }
    // 404 names the object when the object is missing; otherwise the resource itself is not served.
    if (code === 404 && body.details?.name === id) return new KubegateError(codes.notFound, `${noun} ${id} does not exist`, withStatus);
    if (code === 404) return new KubegateError(codes.unavailable, `the API server does not serve ${resource} in this namespace (is the CRD installed?)`, withStatus);
    if (code === 401 || code === 403) return new KubegateError(codes.unavailable, `the API server refused kubegate's own credential for ${resource} (${code}: check its RBAC)`, withStatus);
    // 422: the CRD's schema refused the object (a limit such as reason ≤ 1024 characters, or a rule such as
    // "a Revoked elevation stays Revoked"); 400: a request kubegate should never have sent.
    if (code === 422) return new KubegateError(codes.invalid, `the API server refused the ${type.kind} object (422: see ${type.crdFile} for its limits)`, withStatus);
    if (code === 400) return new KubegateError('INTERNAL', `the API server refused the request for the ${type.kind} object (400)`, withStatus);
    return new KubegateError(codes.unavailable, `the API server answered ${code} to ${op}`, withStatus);
  }
  return new KubegateError(codes.unavailable, `the API server is unreachable (${describe(err)})`, { cause: err, details });
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

const article = (word: string) => (/^[AEIOUaeiou]/.test(word) ? `an ${word}` : `a ${word}`);
