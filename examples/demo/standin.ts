/**
 * The demo's STAND-IN API server: the recording fake API server of the tests, taught to answer what the
 * README and the demo banner print, so kubectl works against kubegate without a cluster. It is not a
 * cluster and says so (the pods' image is `stand-in`, the namespaces carry a label):
 *
 * - discovery for pods, namespaces, configmaps, SelfSubjectReview and SelfSubjectAccessReview;
 * - `kubectl get ns`, `get pods`, `get pods -A`, as server-side Tables like kube-apiserver's;
 * - `kubectl get pods -w`: a real watch; a pod `job-N` is added every `churnMs` and deleted one period
 *   later, so a watch shows events arriving (ADDED, MODIFIED to Running, DELETED);
 * - `kubectl auth can-i …` (SelfSubjectAccessReview): answered from a small table (see {@link allowed}),
 *   for the identity in the Impersonate-* headers kubegate sends;
 * - `kubectl create configmap` / `get configmaps` / `delete configmap`, kept in memory (and `--wait`
 *   works: a list with a fieldSelector on the name).
 *
 * Everything else the fake answers as before (404 for unknown paths). Demo only.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { json, status, type FakeApiServer, type RecordedRequest } from '../../test/support/fake-apiserver.js';

interface Meta {
  name: string;
  namespace?: string;
  uid: string;
  resourceVersion: string;
  creationTimestamp: string;
  labels?: Record<string, string>;
}
interface Obj {
  kind: string;
  apiVersion: 'v1';
  metadata: Meta;
  [key: string]: unknown;
}
type Kind = 'pods' | 'namespaces' | 'configmaps';

export interface StandIn {
  /** Stop adding and deleting pods and end every open watch. */
  close(): void;
}

const NAMESPACES = ['default', 'kube-system', 'team-a'];

/** Who may do what in the stand-in (by mapped group): a one-screen RBAC for `kubectl auth can-i`. */
function allowed(groups: readonly string[], verb: string, resource: string, namespace: string | undefined): boolean {
  const read = ['get', 'list', 'watch'].includes(verb);
  if (groups.includes('break-glass:cluster-admin')) return true;
  if (groups.includes('oidc:developers')) {
    if (read && ['pods', 'namespaces', 'configmaps'].includes(resource)) return true;
    if (resource === 'configmaps' && ['create', 'update', 'delete'].includes(verb) && (namespace ?? 'default') === 'default') return true;
  }
  return false;
}

export function installStandIn(fake: FakeApiServer, opts: { churnMs?: number } = {}): StandIn {
  let rv = 100;
  const nextRv = () => String(++rv);
  let uidSeq = 0;
  const meta = (name: string, namespace?: string, extra: Partial<Meta> = {}): Meta => ({
    name,
    ...(namespace === undefined ? {} : { namespace }),
    uid: `00000000-0000-4000-8000-${String(++uidSeq).padStart(12, '0')}`,
    resourceVersion: nextRv(),
    creationTimestamp: new Date().toISOString(),
    ...extra,
  });
  const pod = (name: string, namespace: string, phase: 'Pending' | 'Running'): Obj => ({
    kind: 'Pod',
    apiVersion: 'v1',
    metadata: meta(name, namespace, { labels: { app: name.replace(/-[^-]*$/, '') } }),
    spec: { containers: [{ name: 'main', image: 'stand-in' }] },
    status: { phase, containerStatuses: [{ name: 'main', ready: phase === 'Running', restartCount: 0, image: 'stand-in', imageID: '', state: phase === 'Running' ? { running: {} } : { waiting: { reason: 'ContainerCreating' } } }] },
  });
  const store: Record<Kind, Map<string, Obj>> = { pods: new Map(), namespaces: new Map(), configmaps: new Map() };
  const key = (namespace: string | undefined, name: string) => `${namespace ?? ''}/${name}`;
  for (const ns of NAMESPACES) store.namespaces.set(key(undefined, ns), { kind: 'Namespace', apiVersion: 'v1', metadata: meta(ns, undefined, { labels: { 'kubernetes.io/metadata.name': ns, 'kubegate.io/demo': 'stand-in' } }), status: { phase: 'Active' } });
  for (const [ns, name] of [['default', 'hello'], ['default', 'web-7d9c'], ['kube-system', 'coredns-5d78'], ['team-a', 'api-6f4b']] as const) store.pods.set(key(ns, name), pod(name, ns, 'Running'));
  store.configmaps.set(key('default', 'kube-root-ca.crt'), { kind: 'ConfigMap', apiVersion: 'v1', metadata: meta('kube-root-ca.crt', 'default'), data: { 'ca.crt': '(stand-in)' } });

  // Watches: each gets every event of its kind in its namespace (or all namespaces).
  const watchers = new Set<{ kind: Kind; namespace: string | undefined; table: boolean; res: ServerResponse }>();
  const emit = (kind: Kind, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Obj) => {
    for (const w of watchers) {
      if (w.kind !== kind || (w.namespace !== undefined && w.namespace !== obj.metadata.namespace)) continue;
      w.res.write(JSON.stringify({ type, object: w.table ? table(kind, [obj]) : obj }) + '\n');
    }
  };
  const put = (kind: Kind, obj: Obj, type: 'ADDED' | 'MODIFIED') => {
    obj.metadata.resourceVersion = nextRv();
    store[kind].set(key(obj.metadata.namespace, obj.metadata.name), obj);
    emit(kind, type, obj);
  };
  const remove = (kind: Kind, namespace: string | undefined, name: string): Obj | undefined => {
    const obj = store[kind].get(key(namespace, name));
    if (!obj) return undefined;
    store[kind].delete(key(namespace, name));
    obj.metadata.resourceVersion = nextRv();
    emit(kind, 'DELETED', obj);
    return obj;
  };

  // Churn: job-N arrives (Pending), runs, and leaves one period later, so `get pods -w` shows a stream.
  let job = 0;
  const churn = setInterval(() => {
    const name = `job-${++job}`;
    const p = pod(name, 'default', 'Pending');
    put('pods', p, 'ADDED');
    setTimeout(() => store.pods.has(key('default', name)) && put('pods', pod(name, 'default', 'Running'), 'MODIFIED'), 500).unref();
    if (job > 1) remove('pods', 'default', `job-${job - 1}`);
  }, opts.churnMs ?? 4000);
  churn.unref();

  const groupsOf = (rec: RecordedRequest) => [...rec.all('impersonate-group'), 'system:authenticated'];

  /** A list or a watch of `kind` in `namespace` (undefined: all namespaces, or cluster-scoped). */
  const listOrWatch = (kind: Kind, namespace: string | undefined) => (req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    const url = new URL(req.url ?? '/', 'https://stand-in');
    const wantsTable = /as=Table/.test(String(req.headers.accept ?? ''));
    const byName = /^metadata\.name=(.+)$/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
    const items = [...store[kind].values()].filter((o) => (namespace === undefined || o.metadata.namespace === namespace) && (byName === undefined || o.metadata.name === byName));
    if (url.searchParams.get('watch') === 'true' || url.searchParams.get('watch') === '1') {
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      res.flushHeaders();
      const w = { kind, namespace, table: wantsTable, res };
      watchers.add(w);
      res.on('close', () => watchers.delete(w));
      return;
    }
    const listKind = `${kind === 'pods' ? 'Pod' : kind === 'namespaces' ? 'Namespace' : 'ConfigMap'}List`;
    json(res, 200, wantsTable ? table(kind, items) : { kind: listKind, apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
  };

  // Discovery.
  fake.route('GET', '/api/v1', (_q, res) =>
    json(res, 200, {
      kind: 'APIResourceList',
      groupVersion: 'v1',
      resources: [
        { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list', 'watch'], shortNames: ['po'] },
        { name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list', 'watch'], shortNames: ['ns'] },
        { name: 'configmaps', singularName: 'configmap', namespaced: true, kind: 'ConfigMap', verbs: ['create', 'delete', 'get', 'list', 'watch'], shortNames: ['cm'] },
      ],
    }),
  );
  fake.route('GET', '/apis', (_q, res) =>
    json(res, 200, {
      kind: 'APIGroupList',
      apiVersion: 'v1',
      groups: ['authentication.k8s.io', 'authorization.k8s.io'].map((name) => ({ name, versions: [{ groupVersion: `${name}/v1`, version: 'v1' }], preferredVersion: { groupVersion: `${name}/v1`, version: 'v1' } })),
    }),
  );
  fake.route('GET', '/apis/authorization.k8s.io/v1', (_q, res) =>
    json(res, 200, {
      kind: 'APIResourceList',
      groupVersion: 'authorization.k8s.io/v1',
      resources: [{ name: 'selfsubjectaccessreviews', singularName: 'selfsubjectaccessreview', namespaced: false, kind: 'SelfSubjectAccessReview', verbs: ['create'] }],
    }),
  );

  // kubectl auth can-i
  type Review = { spec?: { resourceAttributes?: { verb?: string; resource?: string; namespace?: string; group?: string }; nonResourceAttributes?: unknown } };
  fake.route('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', (req, res, rec) => {
    readBody<Review>(req, res, 'SelfSubjectAccessReview', (review) => {
      const spec = review.spec ?? {};
      const a = spec.resourceAttributes ?? {};
      const ok = a.verb !== undefined && a.resource !== undefined && allowed(groupsOf(rec), a.verb, a.resource, a.namespace || undefined);
      json(res, 201, {
        kind: 'SelfSubjectAccessReview',
        apiVersion: 'authorization.k8s.io/v1',
        metadata: { creationTimestamp: null },
        spec,
        status: { allowed: ok, ...(ok ? { reason: 'stand-in RBAC: allowed for your groups' } : {}) },
      });
    });
  });

  // Lists and watches.
  fake.route('GET', '/api/v1/namespaces', listOrWatch('namespaces', undefined));
  fake.route('GET', '/api/v1/pods', listOrWatch('pods', undefined));
  fake.route('GET', '/api/v1/configmaps', listOrWatch('configmaps', undefined));
  for (const ns of NAMESPACES) {
    fake.route('GET', `/api/v1/namespaces/${ns}/pods`, listOrWatch('pods', ns));
    fake.route('GET', `/api/v1/namespaces/${ns}/configmaps`, listOrWatch('configmaps', ns));
    fake.route('GET', `/api/v1/namespaces/${ns}`, (req, res) => (req.resume(), json(res, 200, store.namespaces.get(key(undefined, ns)))));
    // configmaps: create, and get/delete by name (the fake routes exact paths: one route per name).
    type ConfigMapBody = { metadata?: { name?: string; labels?: Record<string, string> }; data?: Record<string, string> };
    fake.route('POST', `/api/v1/namespaces/${ns}/configmaps`, (req, res, rec) => {
      readBody<ConfigMapBody>(req, res, 'ConfigMap', (cm) => {
        const name = cm.metadata?.name;
        if (!name || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(name)) return json(res, 422, status(422, 'Invalid', `ConfigMap "${name ?? ''}" is invalid: metadata.name: Invalid value`));
        if (!allowed(groupsOf(rec), 'create', 'configmaps', ns)) {
          return json(res, 403, status(403, 'Forbidden', `configmaps is forbidden: User "${rec.all('impersonate-user')[0] ?? ''}" cannot create resource "configmaps" in API group "" in the namespace "${ns}" (stand-in RBAC)`));
        }
        if (store.configmaps.has(key(ns, name))) return json(res, 409, { ...status(409, 'AlreadyExists', `configmaps "${name}" already exists`), details: { name, kind: 'configmaps' } });
        const obj: Obj = { kind: 'ConfigMap', apiVersion: 'v1', metadata: meta(name, ns, cm.metadata?.labels ? { labels: cm.metadata.labels } : {}), data: cm.data ?? {} };
        if (new URL(req.url ?? '/', 'https://stand-in').searchParams.get('dryRun') !== 'All') {
          put('configmaps', obj, 'ADDED');
          const path = `/api/v1/namespaces/${ns}/configmaps/${name}`;
          fake.route('GET', path, (q, r) => (q.resume(), store.configmaps.has(key(ns, name)) ? json(r, 200, store.configmaps.get(key(ns, name))) : notFound(r, name)));
          fake.route('DELETE', path, (q, r, rr) => {
            q.resume();
            if (!allowed(groupsOf(rr), 'delete', 'configmaps', ns)) {
              return json(r, 403, status(403, 'Forbidden', `configmaps "${name}" is forbidden: User "${rr.all('impersonate-user')[0] ?? ''}" cannot delete resource "configmaps" in API group "" in the namespace "${ns}" (stand-in RBAC)`));
            }
            const gone = remove('configmaps', ns, name);
            return gone ? json(r, 200, gone) : notFound(r, name);
          });
        }
        json(res, 201, obj);
      });
    });
  }

  return {
    close() {
      clearInterval(churn);
      for (const w of watchers) w.res.end();
      watchers.clear();
    },
  };
}

/**
 * The request body as plain data. kubectl sends built-in types as protobuf (`k8s\0` + runtime.Unknown);
 * the stand-in reads the few fields it needs from that (see {@link fromProtobuf}), and JSON otherwise.
 */
function readBody<T>(req: IncomingMessage, res: ServerResponse, kind: 'ConfigMap' | 'SelfSubjectAccessReview', then: (body: T) => void): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    let parsed: T;
    try {
      parsed = (/protobuf/.test(String(req.headers['content-type'] ?? '')) ? fromProtobuf(raw, kind) : JSON.parse(raw.toString('utf8'))) as T;
    } catch (err) {
      return json(res, 400, status(400, 'BadRequest', `stand-in: cannot read the body: ${(err as Error).message}`));
    }
    then(parsed);
  });
}

/** Protobuf wire format: the fields of one message, as (field number → values), strings/messages as bytes. */
function fields(buf: Buffer): Map<number, (Buffer | number)[]> {
  const out = new Map<number, (Buffer | number)[]>();
  let i = 0;
  const varint = () => {
    let result = 0;
    let shift = 0;
    for (;;) {
      const b = buf[i++];
      if (b === undefined) throw new Error('truncated protobuf');
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
      shift += 7;
    }
  };
  while (i < buf.length) {
    const tag = varint();
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let value: Buffer | number;
    if (wire === 0) value = varint();
    else if (wire === 2) {
      const len = varint();
      value = buf.subarray(i, i + len);
      i += len;
    } else if (wire === 1) (value = 0), (i += 8);
    else if (wire === 5) (value = 0), (i += 4);
    else throw new Error(`unsupported protobuf wire type ${wire}`);
    out.set(field, [...(out.get(field) ?? []), value]);
  }
  return out;
}
const str = (m: Map<number, (Buffer | number)[]>, n: number) => {
  const v = m.get(n)?.[0];
  return Buffer.isBuffer(v) ? v.toString('utf8') : undefined;
};
const msg = (m: Map<number, (Buffer | number)[]>, n: number) => {
  const v = m.get(n)?.[0];
  return fields(Buffer.isBuffer(v) ? v : Buffer.alloc(0));
};
const stringMap = (m: Map<number, (Buffer | number)[]>, n: number) =>
  Object.fromEntries((m.get(n) ?? []).filter(Buffer.isBuffer).map((entry) => {
    const e = fields(entry);
    return [str(e, 1) ?? '', str(e, 2) ?? ''];
  }));

/** The fields the stand-in uses of a ConfigMap or a SelfSubjectAccessReview sent as Kubernetes protobuf. */
function fromProtobuf(raw: Buffer, kind: 'ConfigMap' | 'SelfSubjectAccessReview'): unknown {
  if (raw.subarray(0, 4).toString('latin1') !== 'k8s\0') throw new Error('not a Kubernetes protobuf envelope');
  const object = msg(fields(raw.subarray(4)), 2); // runtime.Unknown.raw
  if (kind === 'ConfigMap') {
    const metadata = msg(object, 1); // ObjectMeta: name 1, labels 11
    return { metadata: { name: str(metadata, 1), labels: stringMap(metadata, 11) }, data: stringMap(object, 2) };
  }
  const attrs = msg(msg(object, 2), 1); // spec.resourceAttributes: namespace 1, verb 2, group 3, version 4, resource 5, subresource 6, name 7
  return { spec: { resourceAttributes: { namespace: str(attrs, 1), verb: str(attrs, 2), group: str(attrs, 3), resource: str(attrs, 5), subresource: str(attrs, 6), name: str(attrs, 7) } } };
}

const notFound = (res: ServerResponse, name: string) => json(res, 404, { ...status(404, 'NotFound', `configmaps "${name}" not found`), details: { name, kind: 'configmaps' } });

/** kube-apiserver's `5m`/`3h`/`2d` age. */
function age(since: string): string {
  const s = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

/** A meta.k8s.io/v1 Table, as kube-apiserver answers `Accept: …;as=Table` (what kubectl get asks for). */
function table(kind: Kind, items: Obj[]): Record<string, unknown> {
  const col = (name: string, type = 'string', format = '') => ({ name, type, format, description: '', priority: 0 });
  const columns =
    kind === 'pods'
      ? [col('Name', 'string', 'name'), col('Ready'), col('Status'), col('Restarts', 'string'), col('Age')]
      : kind === 'namespaces'
        ? [col('Name', 'string', 'name'), col('Status'), col('Age')]
        : [col('Name', 'string', 'name'), col('Data', 'string'), col('Age')];
  const cells = (o: Obj): unknown[] => {
    if (kind === 'pods') {
      const st = o.status as { phase: string; containerStatuses: { ready: boolean }[] };
      const ready = st.containerStatuses.filter((c) => c.ready).length;
      return [o.metadata.name, `${ready}/${st.containerStatuses.length}`, st.phase === 'Pending' ? 'ContainerCreating' : st.phase, '0', age(o.metadata.creationTimestamp)];
    }
    if (kind === 'namespaces') return [o.metadata.name, 'Active', age(o.metadata.creationTimestamp)];
    return [o.metadata.name, String(Object.keys((o.data as Record<string, string> | undefined) ?? {}).length), age(o.metadata.creationTimestamp)];
  };
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion: String(items.map((o) => Number(o.metadata.resourceVersion)).reduce((a, b) => Math.max(a, b), 0)) },
    columnDefinitions: columns,
    rows: items.map((o) => ({ cells: cells(o), object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata } })),
  };
}
