/**
 * The `Elevation` custom resource (kubegate.io/v1alpha1, namespaced; or another, e.g. `Revocation`, with
 * `resource`) served on the recording fake API
 * server, as kubegate's own calls (`ownRoute`: kubegate's credential, no Impersonate-* header).
 *
 * Enough of the API server's behaviour for kubegate's store: create (201; 409 AlreadyExists), get (404),
 * list (with `metadata.resourceVersion`), replace (409 Conflict on a stale `metadata.resourceVersion`;
 * without one, unconditional, as the API server allows), delete, and watch (`?watch=true&resourceVersion=N`:
 * chunked JSON lines, every event after N, then live; the stream stays open). One global, increasing
 * resourceVersion, as etcd's revision. The state lives outside the server, so a test can stop the fake and
 * start a new one on the same port with the same objects (`install` again).
 *
 * Test levers: `cutWatches()` breaks every open watch connection (the client sees an error), `endWatches()`
 * ends them cleanly (as the API server does when a watch's timeout passes; the client resumes from its last
 * resourceVersion), `compact()` drops the event history (a watch resuming from an older resourceVersion
 * then gets an ERROR event with 410 Gone and must relist), `holdWatches()` keeps new watch requests waiting
 * for their answer until released, `put`/`remove`
 * change objects as an administrator would (`kubectl edit` / `kubectl delete`), with watch events.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, ELEVATION_KIND, ELEVATION_PLURAL } from '../../src/elevation/types.js';

const ELEVATION_RESOURCE = { group: ELEVATION_API_GROUP, version: ELEVATION_API_VERSION, kind: ELEVATION_KIND, plural: ELEVATION_PLURAL };
import { json, status, type FakeApiServer } from './fake-apiserver.js';

type KubeObject = { apiVersion?: string; kind?: string; metadata: { name: string; namespace?: string; resourceVersion?: string; [k: string]: unknown }; [k: string]: unknown };
type WatchEvent = { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: KubeObject; rv: number };

export interface FakeElevations {
  readonly namespace: string;
  /** The path prefix served: `/apis/kubegate.io/v1alpha1/namespaces/<ns>/elevations`. */
  readonly basePath: string;
  /** The stored objects now, by name (copies). */
  objects(): Map<string, KubeObject>;
  /** The current (last assigned) resourceVersion. */
  readonly resourceVersion: number;
  /** Watch streams open now. */
  readonly openWatches: number;
  /** Watch requests received so far (each reconnect counts). */
  readonly watchRequests: number;
  /** List requests received so far (each relist counts). */
  readonly listRequests: number;
  /** Serve the resource on `fake` (again after a restart of the fake). */
  install(fake: FakeApiServer): void;
  /** Break every open watch stream (the connection is destroyed, as when a load balancer drops it). */
  cutWatches(): void;
  /** End every open watch stream cleanly (the response completes, as on the API server's watch timeout). */
  endWatches(): void;
  /**
   * Hold new watch requests before their response head (counted in `watchRequests`, not open) until the
   * returned function is called: a client's watch is then "being opened" for as long as a test needs.
   */
  holdWatches(): () => void;
  /** Forget the event history: a watch resuming from a resourceVersion older than now gets 410 Gone. */
  compact(): void;
  /** Create or replace an object as an administrator would; returns its new resourceVersion. */
  put(object: { metadata: { name: string } }): string;
  /** Delete an object as an administrator would (`kubectl delete`); false if it did not exist. */
  remove(name: string): boolean;
}

/** Which custom resource to serve (default: Elevation; e.g. the Revocation resource, served the same way). */
export interface FakeResource {
  group: string;
  version: string;
  kind: string;
  plural: string;
}

export function createFakeElevations(opts: { namespace?: string; resource?: FakeResource } = {}): FakeElevations {
  const namespace = opts.namespace ?? 'kubegate';
  const { group: ELEVATION_API_GROUP, version: ELEVATION_API_VERSION, kind: ELEVATION_KIND, plural: ELEVATION_PLURAL } = opts.resource ?? ELEVATION_RESOURCE;
  const basePath = `/apis/${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}/namespaces/${namespace}/${ELEVATION_PLURAL}`;
  const store = new Map<string, KubeObject>();
  let events: WatchEvent[] = [];
  /** Watches resuming from a resourceVersion below this one cannot be served (history compacted). */
  let compactedAt = 0;
  /** The last resourceVersion assigned (as etcd's revision, it never starts at 0 in a real cluster). */
  let rv = 100;
  let uid = 0;
  let watchRequests = 0;
  let listRequests = 0;
  const watchers = new Set<{ res: ServerResponse; after: number }>();
  /** Watch requests waiting for `holdWatches()`'s release, or undefined when not holding. */
  let held: Array<() => void> | undefined;

  const copy = (o: KubeObject): KubeObject => structuredClone(o);
  const notFound = (name: string) => ({ ...status(404, 'NotFound', `${ELEVATION_PLURAL}.${ELEVATION_API_GROUP} "${name}" not found`), details: { name, group: ELEVATION_API_GROUP, kind: ELEVATION_PLURAL } });

  function emit(type: WatchEvent['type'], object: KubeObject): void {
    const event: WatchEvent = { type, object: copy(object), rv: Number(object.metadata.resourceVersion) };
    events.push(event);
    for (const w of watchers) send(w, event);
  }
  function send(w: { res: ServerResponse; after: number }, e: WatchEvent): void {
    if (e.rv <= w.after || w.res.destroyed) return;
    w.res.write(`${JSON.stringify({ type: e.type, object: e.object })}\n`);
  }

  function store_(object: KubeObject, existing: KubeObject | undefined): KubeObject {
    const stored = copy(object);
    stored.apiVersion = `${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}`;
    stored.kind = ELEVATION_KIND;
    stored.metadata = {
      ...stored.metadata,
      namespace,
      resourceVersion: String(++rv),
      uid: existing?.metadata.uid ?? `fake-uid-${++uid}`,
      creationTimestamp: existing?.metadata.creationTimestamp ?? new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      generation: ((existing?.metadata.generation as number | undefined) ?? 0) + 1,
    };
    store.set(stored.metadata.name, stored);
    emit(existing ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }
  function delete_(name: string): KubeObject | undefined {
    const existing = store.get(name);
    if (!existing) return undefined;
    store.delete(name);
    // The API server stamps the deletion's revision on the DELETED object.
    const gone = { ...copy(existing), metadata: { ...existing.metadata, resourceVersion: String(++rv) } };
    emit('DELETED', gone);
    return gone;
  }

  function readBody(req: IncomingMessage): Promise<KubeObject | undefined> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as KubeObject;
          resolve(body && typeof body === 'object' && body.metadata && typeof body.metadata === 'object' ? body : undefined);
        } catch {
          resolve(undefined);
        }
      });
      req.on('error', () => resolve(undefined));
    });
  }

  /** `undefined` for the collection, the name for an item, `null` for anything deeper (not served). */
  function nameOf(req: IncomingMessage): string | undefined | null {
    const path = (req.url ?? '/').split('?')[0]!.replace(/\/+$/, '');
    if (path === basePath) return undefined;
    const rest = path.slice(basePath.length + 1);
    return rest && !rest.includes('/') ? decodeURIComponent(rest) : null;
  }
  const query = (req: IncomingMessage) => new URL(req.url ?? '/', 'https://fake').searchParams;

  function watch(req: IncomingMessage, res: ServerResponse): void {
    watchRequests++;
    if (held) return void held.push(() => answerWatch(req, res));
    answerWatch(req, res);
  }
  function answerWatch(req: IncomingMessage, res: ServerResponse): void {
    if (res.destroyed) return;
    const from = query(req).get('resourceVersion');
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked', 'cache-control': 'no-cache, private' });
    res.flushHeaders();
    if (from && from !== '0' && Number(from) < compactedAt) {
      // What the API server does for a resourceVersion older than its history: an ERROR event, then the end.
      res.end(`${JSON.stringify({ type: 'ERROR', object: status(410, 'Expired', `too old resource version: ${from} (${compactedAt})`) })}\n`);
      return;
    }
    const w = { res, after: Number(from) || 0 };
    if (!from || from === '0') {
      // No starting point: synthetic ADDED events for what exists now, then live.
      for (const o of store.values()) res.write(`${JSON.stringify({ type: 'ADDED', object: o })}\n`);
      w.after = rv;
    } else {
      for (const e of events) send(w, e);
    }
    watchers.add(w);
    res.once('close', () => watchers.delete(w)); // (the request's own 'close' fires once its body is read)
  }

  const handlers = {
    GET(req: IncomingMessage, res: ServerResponse) {
      req.resume();
      const name = nameOf(req);
      if (name === null) return json(res, 404, status(404, 'NotFound', 'fake: not served'));
      if (name !== undefined) {
        const o = store.get(name);
        return o ? json(res, 200, o) : json(res, 404, notFound(name));
      }
      const w = query(req).get('watch');
      if (w === 'true' || w === '1') return watch(req, res);
      listRequests++;
      json(res, 200, {
        apiVersion: `${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}`,
        kind: `${ELEVATION_KIND}List`,
        metadata: { resourceVersion: String(rv) },
        items: [...store.values()],
      });
    },
    async POST(req: IncomingMessage, res: ServerResponse) {
      const body = await readBody(req);
      if (nameOf(req) !== undefined) return json(res, 405, status(405, 'MethodNotAllowed', 'fake: POST to the collection only'));
      const name = body?.metadata.name;
      if (!body || typeof name !== 'string' || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) return json(res, 422, status(422, 'Invalid', 'fake: metadata.name must be a DNS label'));
      if (body.metadata.resourceVersion) return json(res, 422, status(422, 'Invalid', 'fake: resourceVersion must not be set on create'));
      if (store.has(name)) return json(res, 409, { ...status(409, 'AlreadyExists', `${ELEVATION_PLURAL}.${ELEVATION_API_GROUP} "${name}" already exists`), details: { name, group: ELEVATION_API_GROUP, kind: ELEVATION_PLURAL } });
      json(res, 201, store_(body, undefined));
    },
    async PUT(req: IncomingMessage, res: ServerResponse) {
      const body = await readBody(req);
      const name = nameOf(req);
      if (typeof name !== 'string') return json(res, 405, status(405, 'MethodNotAllowed', 'fake: PUT to an item only'));
      if (!body || body.metadata.name !== name) return json(res, 400, status(400, 'BadRequest', 'fake: metadata.name must match the path'));
      const existing = store.get(name);
      if (!existing) return json(res, 404, notFound(name));
      const want = body.metadata.resourceVersion;
      if (want !== undefined && want !== existing.metadata.resourceVersion) {
        return json(res, 409, {
          ...status(409, 'Conflict', `Operation cannot be fulfilled on ${ELEVATION_PLURAL}.${ELEVATION_API_GROUP} "${name}": the object has been modified; please apply your changes to the latest version and try again`),
          details: { name, group: ELEVATION_API_GROUP, kind: ELEVATION_PLURAL },
        });
      }
      json(res, 200, store_(body, existing));
    },
    DELETE(req: IncomingMessage, res: ServerResponse) {
      req.resume();
      const name = nameOf(req);
      if (typeof name !== 'string') return json(res, 405, status(405, 'MethodNotAllowed', 'fake: DELETE of an item only'));
      const gone = delete_(name);
      return gone ? json(res, 200, gone) : json(res, 404, notFound(name));
    },
  };

  return {
    namespace,
    basePath,
    objects: () => new Map([...store].map(([k, v]) => [k, copy(v)])),
    get resourceVersion() {
      return rv;
    },
    get openWatches() {
      return watchers.size;
    },
    get watchRequests() {
      return watchRequests;
    },
    get listRequests() {
      return listRequests;
    },
    install(fake) {
      for (const [method, handler] of Object.entries(handlers)) {
        fake.ownRoute(method, basePath, (req, res) => void handler(req, res));
      }
    },
    cutWatches() {
      for (const w of watchers) w.res.destroy();
      watchers.clear();
    },
    endWatches() {
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
    holdWatches() {
      const waiting: Array<() => void> = (held = []);
      return () => {
        if (held === waiting) held = undefined;
        for (const answer of waiting.splice(0)) answer();
      };
    },
    compact() {
      events = [];
      compactedAt = rv;
    },
    put(object) {
      return store_(object as KubeObject, store.get(object.metadata.name)).metadata.resourceVersion!;
    },
    remove(name) {
      return delete_(name) !== undefined;
    },
  };
}
