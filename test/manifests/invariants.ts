/**
 * What every kubegate install must be, as checks over rendered objects. Each check returns the problems
 * it finds (empty: holds). Each also carries `breaks`: edits of a rendered install that must each make
 * the check report a problem, so the suite shows every check can fail (overlays.test.ts runs them).
 */
import YAML from 'yaml';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateConfig } from '../../src/config/validate.js';
import { ELEVATION_EXTRA, ORIGINAL_GROUPS_EXTRA, ORIGINAL_UID_EXTRA, ORIGINAL_USERNAME_EXTRA } from '../../src/impersonation/client-request.js';
import {
  ROOT, all, containerPort, effectiveConfig, find, hostPort, kubegatePod, mountFor, quantity, selects,
  type Binding, type Certificate, type ConfigMap, type NetworkPolicy, type Obj, type PodDisruptionBudget,
  type Probe, type Role, type Rule, type Service, type ServiceAccount,
} from './render.js';

/**
 * One way to run kubegate: where it runs (`workload`: the Deployment, its config, Services, policies) and
 * where its permissions live (`rbac`: the same objects in-cluster; the other cluster's with a kubeconfig).
 */
export interface Install {
  name: string;
  /** service-account: a projected token of the pod's own service account; kubeconfig: a Secret. */
  credential: 'service-account' | 'kubeconfig';
  /** unrestricted: the `impersonate` verb; constrained: Kubernetes >= 1.35 constrained impersonation. */
  impersonation: 'unrestricted' | 'constrained';
  workload: Obj[];
  rbac: Obj[];
}

export interface Invariant {
  name: string;
  appliesTo?: (install: Install) => boolean;
  check: (install: Install) => string[];
  /**
   * Edits that must each break the invariant, tried on a copy of the first install it applies to (or,
   * with `on`, the first of those that `on` accepts).
   */
  breaks: [what: string, edit: (install: Install) => void, on?: (install: Install) => boolean][];
}

const PACKAGE_VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** Where in-cluster clients (client-node's loadFromCluster) read the service-account token, CA and namespace. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** The extra keys kubegate itself may send as Impersonate-Extra-<key>. */
export const KUBEGATE_EXTRA_KEYS = [ORIGINAL_USERNAME_EXTRA, ORIGINAL_GROUPS_EXTRA, ORIGINAL_UID_EXTRA, ELEVATION_EXTRA];
/** Margin between kubegate's own shutdown deadline and SIGKILL, for the audit flush and exit. */
export const SHUTDOWN_MARGIN_SECONDS = 5;
const ELEVATION_VERBS = ['get', 'list', 'watch', 'create', 'update'];
const REVOCATION_VERBS = ['get', 'list', 'watch', 'create', 'delete'];

const pod = (i: Install) => kubegatePod(i.workload);
const constrained = (i: Install) => i.impersonation === 'constrained';
const deployment = (i: Install) => pod(i).deployment;
const podLabels = (i: Install) => deployment(i).spec.template.metadata.labels;
const rolesOf = (objects: readonly Obj[]) => [...all<Role>(objects, 'ClusterRole'), ...all<Role>(objects, 'Role')];
const bindingsOf = (objects: readonly Obj[]) => [...all<Binding>(objects, 'ClusterRoleBinding'), ...all<Binding>(objects, 'RoleBinding')];
const describeRole = (r: Role) => `${r.kind} ${r.metadata.namespace ? `${r.metadata.namespace}/` : ''}${r.metadata.name}`;
const configOf = (i: Install) => {
  const e = effectiveConfig(i.workload);
  if (!e.ok) throw new Error(e.problem);
  return e;
};
/** Impersonate-Extra keys kubegate may send in this install: its own, and one per oidc.extraClaims key. */
const extraKeys = (i: Install) => [...KUBEGATE_EXTRA_KEYS, ...Object.keys(configOf(i).config.oidc!.extraClaims).map((k) => k.toLowerCase())].sort();
/** Edit the ConfigMap's config.yaml as parsed YAML. */
const editConfig = (i: Install, edit: (doc: Record<string, Record<string, unknown>>) => void) => {
  const e = configOf(i);
  const doc = YAML.parse(e.text) as Record<string, Record<string, unknown>>;
  edit(doc);
  // effectiveConfig returns the install's own ConfigMap object: editing it edits the install.
  e.configMap.data![e.key] = YAML.stringify(doc);
};
const setArg = (i: Install, name: string, value: string) => {
  const c = pod(i).container;
  c.args = (c.args ?? []).filter((a) => !a.startsWith(`--${name}=`)).concat(`--${name}=${value}`);
};
/** One line per granted (verb, group/resource[names]) pair. */
export function grants(objects: readonly Obj[]): string[] {
  return rolesOf(objects).flatMap((role) =>
    (role.rules ?? []).flatMap((r) =>
      r.verbs.flatMap((verb) => [
        ...(r.resources ?? []).flatMap((res) => (r.apiGroups ?? []).map((g) => `${describeRole(role)}: ${verb} ${g}/${res}${r.resourceNames ? ` [${r.resourceNames.join(',')}]` : ''}`)),
        ...(r.nonResourceURLs ?? []).map((url) => `${describeRole(role)}: ${verb} ${url}`),
      ]),
    ),
  );
}
const probeProblems = (name: string, probe: Probe | undefined, path: string, port: number, i: Install): string[] => {
  if (!probe) return [`no ${name}`];
  const get = probe.httpGet;
  if (!get) return [`${name} is not an HTTP GET`];
  const out: string[] = [];
  if (get.path !== path) out.push(`${name} checks ${get.path}, not ${path}`);
  if (get.scheme !== 'HTTPS') out.push(`${name} uses ${get.scheme ?? 'HTTP'}, not HTTPS (kubegate serves only TLS)`);
  if (containerPort(pod(i).container, get.port) !== port) out.push(`${name} probes port ${String(get.port)}, not kubegate's secure port ${port}`);
  return out;
};

/** Strings in configuration that look like credentials rather than references to them. */
export function secretLooking(value: unknown, path: string[] = []): string[] {
  const where = path.join('.') || '(root)';
  if (Array.isArray(value)) return value.flatMap((v, n) => secretLooking(v, [...path, String(n)]));
  if (value && typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => secretLooking(v, [...path, k]));
  if (typeof value !== 'string') return [];
  const key = path[path.length - 1] ?? '';
  const out: string[] = [];
  const isReference = /(File|Path|Dir)$/i.test(key) && value.startsWith('/');
  if (/secret|passw(or)?d|token|api.?key|credential|private.?key|bearer/i.test(key) && !isReference) out.push(`${where}: a setting named like a secret holds a value, not a file reference`);
  if (/-----BEGIN [A-Z ]+-----/.test(value)) out.push(`${where}: holds PEM material`);
  if (/eyJ[\w-]{8,}\.[\w-]{8,}\./.test(value)) out.push(`${where}: holds a JWT`);
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/\s:@]+:[^/\s@]+@/i.test(value)) out.push(`${where}: holds a URL with a password`);
  if (/^(Bearer|Basic) \S+/i.test(value)) out.push(`${where}: holds an Authorization value`);
  for (const word of value.split(/[\s"',;]+/)) {
    // Long runs of mixed letters and digits: API keys, client secrets, base64 keys. Paths and URLs are fine.
    if (word.length >= 32 && /^[A-Za-z0-9+/=_-]+$/.test(word) && /\d/.test(word) && /[A-Za-z]/.test(word) && !word.includes('/')) {
      out.push(`${where}: holds a long random-looking string`);
    }
  }
  return out;
}

export const INVARIANTS: Invariant[] = [
  {
    name: 'the namespace enforces Pod Security "restricted"',
    check: (i) => {
      const ns = find(i.workload, 'Namespace', deployment(i).metadata.namespace);
      if (!ns) return [`no Namespace ${deployment(i).metadata.namespace}`];
      return ns.metadata.labels?.['pod-security.kubernetes.io/enforce'] === 'restricted' ? [] : ['the namespace does not enforce pod-security.kubernetes.io/enforce=restricted'];
    },
    breaks: [['enforce baseline', (i) => void (find(i.workload, 'Namespace')!.metadata.labels!['pod-security.kubernetes.io/enforce'] = 'baseline')]],
  },
  {
    name: 'securityContext: non-root numeric user, read-only root, no capabilities, seccomp, no escalation',
    check: (i) => {
      const { pod: spec } = pod(i);
      const out: string[] = [];
      if (spec.hostNetwork || spec.hostPID || spec.hostIPC) out.push('shares a host namespace');
      if ((spec.volumes ?? []).some((v) => v.hostPath)) out.push('mounts a hostPath');
      for (const c of spec.containers) {
        const sc = { ...spec.securityContext, ...c.securityContext };
        const at = `container ${c.name}`;
        if (sc.runAsNonRoot !== true) out.push(`${at}: runAsNonRoot is not true`);
        if (!Number.isInteger(sc.runAsUser) || sc.runAsUser! <= 0) out.push(`${at}: runAsUser is not a numeric non-root user (${String(sc.runAsUser)})`);
        if (c.securityContext?.readOnlyRootFilesystem !== true) out.push(`${at}: readOnlyRootFilesystem is not true`);
        if (c.securityContext?.allowPrivilegeEscalation !== false) out.push(`${at}: allowPrivilegeEscalation is not false`);
        if (c.securityContext?.privileged) out.push(`${at}: privileged`);
        if (!c.securityContext?.capabilities?.drop?.includes('ALL')) out.push(`${at}: capabilities do not drop ALL`);
        if (c.securityContext?.capabilities?.add?.length) out.push(`${at}: adds capabilities`);
        if (sc.seccompProfile?.type !== 'RuntimeDefault') out.push(`${at}: seccompProfile is not RuntimeDefault`);
      }
      return out;
    },
    breaks: [
      ['runAsNonRoot removed', (i) => { delete pod(i).pod.securityContext!.runAsNonRoot; delete pod(i).container.securityContext!.runAsNonRoot; }],
      ['runAsUser 0', (i) => void (pod(i).container.securityContext!.runAsUser = 0)],
      ['writable root filesystem', (i) => void (pod(i).container.securityContext!.readOnlyRootFilesystem = false)],
      ['privilege escalation allowed', (i) => void (pod(i).container.securityContext!.allowPrivilegeEscalation = true)],
      ['capabilities kept', (i) => void (pod(i).container.securityContext!.capabilities = { drop: ['NET_RAW'] })],
      ['seccomp unconfined', (i) => { pod(i).pod.securityContext!.seccompProfile = { type: 'Unconfined' }; pod(i).container.securityContext!.seccompProfile = { type: 'Unconfined' }; }],
    ],
  },
  {
    name: 'probes: readiness on /readyz, liveness on /livez, HTTPS on the secure port',
    check: (i) => {
      const { container } = pod(i);
      const port = configOf(i).config.server.securePort;
      const out = [...probeProblems('readinessProbe', container.readinessProbe, '/readyz', port, i), ...probeProblems('livenessProbe', container.livenessProbe, '/livez', port, i)];
      // A startup probe must not wait for the API server either, or an outage at start-up is a crash loop.
      if (container.startupProbe) out.push(...probeProblems('startupProbe', container.startupProbe, '/livez', port, i));
      return out;
    },
    breaks: [
      ['readiness on /healthz', (i) => void (pod(i).container.readinessProbe!.httpGet!.path = '/healthz')],
      ['liveness over HTTP', (i) => void (pod(i).container.livenessProbe!.httpGet!.scheme = 'HTTP')],
      ['liveness on /readyz (restarts kubegate when the API server is down)', (i) => void (pod(i).container.livenessProbe!.httpGet!.path = '/readyz')],
      ['no readiness probe', (i) => void delete pod(i).container.readinessProbe],
      ['probe on the metrics port', (i) => void (pod(i).container.readinessProbe!.httpGet!.port = 'metrics')],
    ],
  },
  {
    name: 'resources: CPU and memory requests, a memory limit at least the request',
    check: (i) => {
      const r = pod(i).container.resources;
      const out: string[] = [];
      for (const k of ['cpu', 'memory']) if (!r?.requests?.[k]) out.push(`no ${k} request`);
      if (!r?.limits?.memory) out.push('no memory limit');
      else if (!(quantity(r.limits.memory)! >= quantity(r.requests?.memory ?? '0')!)) out.push('the memory limit is below the request');
      return out;
    },
    breaks: [
      ['no limits', (i) => void delete pod(i).container.resources!.limits],
      ['no cpu request', (i) => void delete pod(i).container.resources!.requests!.cpu],
      ['limit below request', (i) => void (pod(i).container.resources!.limits!.memory = '64Mi')],
    ],
  },
  {
    name: 'high availability: 2+ replicas spread over nodes, rolling update without losing capacity',
    check: (i) => {
      const d = deployment(i);
      const out: string[] = [];
      if ((d.spec.replicas ?? 1) < 2) out.push(`replicas is ${d.spec.replicas ?? 1}`);
      const spec = d.spec.template.spec;
      const spread = (spec.topologySpreadConstraints ?? []).some((c) => c.topologyKey === 'kubernetes.io/hostname' && c.whenUnsatisfiable === 'DoNotSchedule' && selects(c.labelSelector?.matchLabels, podLabels(i)));
      const anti = (spec.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []).some((a) => a.topologyKey === 'kubernetes.io/hostname' && selects(a.labelSelector?.matchLabels, podLabels(i)));
      if (!spread && !anti) out.push('nothing keeps the replicas on different nodes (hostname topology spread or anti-affinity)');
      if (String(d.spec.strategy?.rollingUpdate?.maxUnavailable ?? '25%') !== '0') out.push('a rolling update may take a pod away before its replacement is ready (maxUnavailable is not 0)');
      return out;
    },
    breaks: [
      ['one replica', (i) => void (deployment(i).spec.replicas = 1)],
      ['no spread', (i) => void delete deployment(i).spec.template.spec.topologySpreadConstraints],
      ['maxUnavailable 1', (i) => void (deployment(i).spec.strategy!.rollingUpdate!.maxUnavailable = 1)],
    ],
  },
  {
    name: 'a PodDisruptionBudget keeps a replica up and still lets drains proceed',
    check: (i) => {
      const replicas = deployment(i).spec.replicas ?? 1;
      const pdbs = all<PodDisruptionBudget>(i.workload, 'PodDisruptionBudget').filter((p) => selects(p.spec.selector.matchLabels, podLabels(i)));
      if (pdbs.length !== 1) return [`${pdbs.length} PodDisruptionBudgets select kubegate's pods`];
      const { maxUnavailable, minAvailable } = pdbs[0]!.spec;
      if (typeof maxUnavailable === 'number') return maxUnavailable >= 1 && maxUnavailable < replicas ? [] : [`maxUnavailable ${maxUnavailable} with ${replicas} replicas`];
      if (typeof minAvailable === 'number') return minAvailable >= 1 && minAvailable < replicas ? [] : [`minAvailable ${minAvailable} with ${replicas} replicas`];
      return ['the PodDisruptionBudget sets neither maxUnavailable nor minAvailable as a number'];
    },
    breaks: [
      ['no PDB', (i) => void i.workload.splice(i.workload.findIndex((o) => o.kind === 'PodDisruptionBudget'), 1)],
      ['blocks every drain', (i) => void (find<PodDisruptionBudget>(i.workload, 'PodDisruptionBudget')!.spec.maxUnavailable = 0)],
      ['selects other pods', (i) => void (find<PodDisruptionBudget>(i.workload, 'PodDisruptionBudget')!.spec.selector.matchLabels = { app: 'other' })],
    ],
  },
  {
    name: 'a NetworkPolicy: ingress to the secure and metrics ports only; egress to DNS and HTTPS only',
    check: (i) => {
      const { config } = configOf(i);
      const metrics = hostPort(config.server.metricsBindAddress)?.port;
      const policies = all<NetworkPolicy>(i.workload, 'NetworkPolicy').filter((p) => selects(p.spec.podSelector.matchLabels, podLabels(i)));
      if (policies.length !== 1) return [`${policies.length} NetworkPolicies select kubegate's pods`];
      const spec = policies[0]!.spec;
      const out: string[] = [];
      if (!spec.policyTypes?.includes('Ingress') || !spec.policyTypes.includes('Egress')) out.push('policyTypes is not both Ingress and Egress');
      const ports = (rules: typeof spec.ingress, dir: string) =>
        (rules ?? []).flatMap((r, n) => {
          if (!r.ports?.length) {
            out.push(`${dir} rule ${n} allows every port`);
            return [];
          }
          return r.ports.map((p) => `${p.protocol ?? 'TCP'}/${String(p.port)}${p.endPort ? `-${p.endPort}` : ''}`);
        });
      const ingress = [...new Set(ports(spec.ingress, 'ingress'))].sort();
      const expected = [`TCP/${config.server.securePort}`, `TCP/${metrics}`].sort();
      if (JSON.stringify(ingress) !== JSON.stringify(expected)) out.push(`ingress ports are ${ingress.join(', ')}, not ${expected.join(', ')}`);
      const egress = new Set(ports(spec.egress, 'egress'));
      for (const need of ['UDP/53', 'TCP/443']) if (!egress.has(need)) out.push(`egress does not allow ${need}`);
      for (const port of egress) if (!['UDP/53', 'TCP/53', 'TCP/443', 'TCP/6443'].includes(port)) out.push(`egress allows ${port}`);
      return out;
    },
    breaks: [
      ['no NetworkPolicy', (i) => void i.workload.splice(i.workload.findIndex((o) => o.kind === 'NetworkPolicy'), 1)],
      ['ssh let in', (i) => void find<NetworkPolicy>(i.workload, 'NetworkPolicy')!.spec.ingress!.push({ ports: [{ protocol: 'TCP', port: 22 }] })],
      ['egress to every port', (i) => void find<NetworkPolicy>(i.workload, 'NetworkPolicy')!.spec.egress!.push({ to: [{ ipBlock: { cidr: '10.0.0.0/8' } }] })],
      ['no DNS', (i) => void (find<NetworkPolicy>(i.workload, 'NetworkPolicy')!.spec.egress = find<NetworkPolicy>(i.workload, 'NetworkPolicy')!.spec.egress!.filter((r) => !r.ports?.some((p) => p.port === 53)))],
      ['metrics moved without the policy', (i) => setArg(i, 'metrics-bind-address', '0.0.0.0:9100')],
    ],
  },
  {
    name: 'the API credential: a short-lived projected token where in-cluster clients read it, never automounted',
    appliesTo: (i) => i.credential === 'service-account',
    check: (i) => {
      const { pod: spec, container } = pod(i);
      const out: string[] = [];
      const sa = find<ServiceAccount>(i.workload, 'ServiceAccount', spec.serviceAccountName);
      if (!sa) out.push(`no ServiceAccount ${String(spec.serviceAccountName)}`);
      else if (sa.automountServiceAccountToken !== false) out.push('the ServiceAccount does not set automountServiceAccountToken: false');
      if (spec.automountServiceAccountToken !== false) out.push('the pod does not set automountServiceAccountToken: false');
      const where = mountFor(spec, container, `${SERVICE_ACCOUNT_DIR}/token`);
      const sources = where?.volume?.projected?.sources;
      if (!where || where.mount.mountPath !== SERVICE_ACCOUNT_DIR || !sources) return [...out, `no projected volume mounted at ${SERVICE_ACCOUNT_DIR}`];
      if (where.mount.readOnly !== true) out.push('the token volume is not mounted read-only');
      const token = sources.find((s) => s.serviceAccountToken)?.serviceAccountToken;
      if (token?.path !== 'token') out.push('no serviceAccountToken at path "token"');
      const ttl = token?.expirationSeconds;
      if (ttl === undefined || ttl < 600 || ttl > 3600 || ttl === 3607) out.push(`token expirationSeconds ${String(ttl)}: want 600..3600 (3607 is silently extended to a year)`);
      // The API server accepts only its own audiences: unset means exactly that on every distribution.
      if (token?.audience !== undefined) out.push(`token audience ${JSON.stringify(token.audience)}: the API server rejects audiences outside its --api-audiences; leave it unset (its own)`);
      const ca = sources.find((s) => s.configMap)?.configMap;
      if (ca?.name !== 'kube-root-ca.crt' || !ca.items?.some((it) => it.key === 'ca.crt' && it.path === 'ca.crt')) out.push('ca.crt is not projected from the ConfigMap kube-root-ca.crt');
      if (!sources.some((s) => s.downwardAPI?.items?.some((it) => it.path === 'namespace' && it.fieldRef?.fieldPath === 'metadata.namespace'))) out.push('namespace is not projected from metadata.namespace');
      return out;
    },
    breaks: [
      ['automount on the pod', (i) => void (pod(i).pod.automountServiceAccountToken = true)],
      ['automount on the ServiceAccount', (i) => void delete find<ServiceAccount>(i.workload, 'ServiceAccount')!.automountServiceAccountToken],
      ['a day-long token', (i) => void (pod(i).pod.volumes!.find((v) => v.projected)!.projected!.sources[0]!.serviceAccountToken!.expirationSeconds = 86400)],
      ['an audience the API server does not accept', (i) => void (pod(i).pod.volumes!.find((v) => v.projected)!.projected!.sources[0]!.serviceAccountToken!.audience = 'kubegate')],
      ['no CA', (i) => { const p = pod(i).pod.volumes!.find((v) => v.projected)!.projected!; p.sources = p.sources.filter((s) => !s.configMap); }],
      ['mounted elsewhere', (i) => void (pod(i).container.volumeMounts!.find((m) => m.name === 'kube-api-access')!.mountPath = '/var/run/token')],
    ],
  },
  {
    name: 'the API credential: a kubeconfig from a Secret, and no credential for the cluster kubegate runs in',
    appliesTo: (i) => i.credential === 'kubeconfig',
    check: (i) => {
      const { pod: spec, container } = pod(i);
      const out: string[] = [];
      if (spec.automountServiceAccountToken !== false) out.push('the pod does not set automountServiceAccountToken: false');
      if ((spec.volumes ?? []).some((v) => v.projected?.sources.some((s) => s.serviceAccountToken))) out.push('mounts a service-account token it does not need');
      const kubeconfig = configOf(i).config.upstream.kubeconfig;
      if (!kubeconfig) return [...out, 'no --kubeconfig'];
      const where = mountFor(spec, container, kubeconfig);
      if (!where?.volume?.secret) out.push(`--kubeconfig ${kubeconfig} is not on a Secret volume`);
      if (rolesOf(i.workload).length + bindingsOf(i.workload).length > 0) out.push('grants RBAC in the cluster kubegate runs in');
      if (find(i.workload, 'CustomResourceDefinition')) out.push('installs the Elevation CRD where kubegate does not keep grants');
      return out;
    },
    breaks: [
      ['no kubeconfig', (i) => void (pod(i).container.args = pod(i).container.args!.filter((a) => !a.startsWith('--kubeconfig')))],
      ['kubeconfig from a ConfigMap', (i) => void (pod(i).pod.volumes!.find((v) => v.name === 'upstream')!.secret = undefined)],
      ['RBAC in this cluster', (i) => void i.workload.push(...rolesOf(i.rbac))],
    ],
  },
  {
    name: "the ConfigMap's config.yaml validates (validateConfig), and serve accepts it with the container's flags",
    check: (i) => {
      const e = effectiveConfig(i.workload);
      if (!e.ok) return [e.problem];
      const result = validateConfig(YAML.parse(e.text));
      return result.ok ? [] : result.issues.map((issue) => `config.yaml: ${issue}`);
    },
    breaks: [
      ['http issuer', (i) => editConfig(i, (doc) => void (doc.oidc!.issuerUrl = 'http://dex.example.com'))],
      ['an unknown setting', (i) => editConfig(i, (doc) => void (doc.server!.port = 8443))],
      ['an unknown flag', (i) => setArg(i, 'listen', ':8443')],
    ],
  },
  {
    name: 'no secrets in ConfigMaps',
    check: (i) =>
      all<ConfigMap>(i.workload, 'ConfigMap').flatMap((cm) =>
        Object.entries(cm.data ?? {}).flatMap(([key, value]) => {
          const parsed: unknown = /\.ya?ml$/.test(key) ? YAML.parse(value) : value;
          return secretLooking({ [key]: parsed }).map((p) => `ConfigMap ${cm.metadata.name}: ${p}`);
        }),
      ),
    breaks: [
      ['a client secret', (i) => editConfig(i, (doc) => void (doc.oidc!.clientSecret = 'x'))],
      ['a token value', (i) => void (find<ConfigMap>(i.workload, 'ConfigMap')!.data!.token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2ln')],
      ['a private key', (i) => editConfig(i, (doc) => void (doc.server!.key = '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----'))],
      ['an API key', (i) => editConfig(i, (doc) => void (doc.audit!.sink = 'sk_live_4eC39HqLyjWDarjtT1zdp7dc9Kq3ZpQa'))],
      ['a password in a URL', (i) => editConfig(i, (doc) => void (doc.elevation = { notify: { webhookUrl: 'https://bot:hunter22@chat.example.com/hook' } }))],
    ],
  },
  {
    name: "ports match the flags: the https and metrics container ports, probes, Services",
    check: (i) => {
      const { container } = pod(i);
      const { config } = configOf(i);
      const out: string[] = [];
      const https = containerPort(container, 'https');
      if (https !== config.server.securePort) out.push(`container port "https" is ${String(https)}, --secure-port is ${config.server.securePort}`);
      const metrics = hostPort(config.server.metricsBindAddress);
      if (!metrics) out.push(`metrics are off (--metrics-bind-address ${config.server.metricsBindAddress})`);
      else {
        if (!['0.0.0.0', '::'].includes(metrics.host)) out.push(`--metrics-bind-address ${config.server.metricsBindAddress} is not reachable from other pods (Prometheus)`);
        const port = containerPort(container, 'metrics');
        if (port !== metrics.port) out.push(`container port "metrics" is ${String(port)}, --metrics-bind-address says ${metrics.port}`);
        const annotated = deployment(i).spec.template.metadata.annotations?.['prometheus.io/port'];
        if (annotated !== undefined && Number(annotated) !== metrics.port) out.push(`the pod's prometheus.io/port annotation says ${annotated}, --metrics-bind-address says ${metrics.port}`);
      }
      const services = all<Service>(i.workload, 'Service').filter((s) => selects(s.spec.selector, podLabels(i)));
      const targets = (s: Service) => s.spec.ports.map((p) => containerPort(container, p.targetPort ?? p.port));
      const main = services.find((s) => s.metadata.name === 'kubegate');
      if (!main) out.push('no Service "kubegate"');
      else if (JSON.stringify(targets(main)) !== JSON.stringify([config.server.securePort])) out.push(`Service kubegate targets ${targets(main).join(', ')}: only the secure port belongs on the user-facing Service`);
      if (metrics && !services.some((s) => s !== main && targets(s).includes(metrics.port))) out.push('no Service for Prometheus targets the metrics port');
      return out;
    },
    breaks: [
      ['secure port moved', (i) => setArg(i, 'secure-port', '9443')],
      ['metrics on loopback', (i) => setArg(i, 'metrics-bind-address', '127.0.0.1:9090')],
      ['metrics off', (i) => setArg(i, 'metrics-bind-address', '0')],
      ['scrape annotation on another port', (i) => void (deployment(i).spec.template.metadata.annotations!['prometheus.io/port'] = '8080')],
      ['metrics on the user-facing Service', (i) => void find<Service>(i.workload, 'Service', 'kubegate')!.spec.ports.push({ name: 'metrics', port: 9090, targetPort: 'metrics' })],
    ],
  },
  {
    name: 'TLS from the Secret and config from the ConfigMap, mounted as directories (so they reload)',
    check: (i) => {
      const { pod: spec, container } = pod(i);
      const { config } = configOf(i);
      const out: string[] = [];
      for (const m of container.volumeMounts ?? []) if (m.subPath) out.push(`volume ${m.name} is mounted with subPath (never updated in place)`);
      for (const file of [config.server.tlsCertFile, config.server.tlsPrivateKeyFile]) {
        const secret = mountFor(spec, container, file)?.volume?.secret?.secretName;
        if (secret !== 'kubegate-tls') out.push(`${file} is not in the Secret kubegate-tls (${String(secret)})`);
      }
      const tls = spec.volumes?.find((v) => v.secret?.secretName === 'kubegate-tls');
      if ((tls?.secret?.defaultMode ?? 0o644) & 0o007) out.push('the TLS Secret is world-readable in the pod');
      const cert = find<Certificate>(i.workload, 'Certificate');
      if (cert && cert.spec.secretName !== 'kubegate-tls') out.push(`the Certificate fills ${cert.spec.secretName}, not kubegate-tls`);
      if (cert && !cert.spec.dnsNames?.includes(`kubegate.${deployment(i).metadata.namespace}.svc`)) out.push("the Certificate does not name the Service's DNS name");
      return out;
    },
    breaks: [
      ['config via subPath', (i) => void Object.assign(pod(i).container.volumeMounts!.find((m) => m.name === 'config')!, { mountPath: '/etc/kubegate/config/config.yaml', subPath: 'config.yaml' })],
      ['key file outside the Secret', (i) => editConfig(i, (doc) => void (doc.server!.tlsPrivateKeyFile = '/tmp/tls.key'))],
      ['world-readable key', (i) => void (pod(i).pod.volumes!.find((v) => v.name === 'tls')!.secret!.defaultMode = 0o644)],
      ['Certificate into another Secret', (i) => void (i.workload.push({ apiVersion: 'cert-manager.io/v1', kind: 'Certificate', metadata: { name: 'x' }, spec: { secretName: 'other', dnsNames: ['kubegate.kubegate.svc'] } }))],
    ],
  },
  {
    name: 'shutdown: a preStop pause without a shell, and a grace period covering it and the drain',
    check: (i) => {
      const { pod: spec, container } = pod(i);
      const { config } = configOf(i);
      const preStop = container.lifecycle?.preStop;
      const out: string[] = [];
      let pause = 0;
      if (preStop?.sleep) pause = preStop.sleep.seconds;
      else if (preStop?.exec) {
        const command = preStop.exec.command ?? [];
        // The image is distroless: no shell, no `sleep`; only node itself can be exec'd.
        if (command[0] !== '/nodejs/bin/node') out.push(`preStop runs ${JSON.stringify(command[0])}, which the distroless image does not have`);
        pause = Number(/setTimeout\([^,]+,\s*(\d+)\)/.exec(command.join(' '))?.[1] ?? 0) / 1000;
      } else out.push('no preStop pause: new connections may still arrive after SIGTERM');
      if (pause < 1) out.push('the preStop pause is shorter than a second');
      const drain = Math.max(config.server.shutdownGraceSeconds, config.server.longRunningShutdownGraceSeconds);
      const grace = spec.terminationGracePeriodSeconds ?? 30;
      if (grace < pause + drain + SHUTDOWN_MARGIN_SECONDS) out.push(`terminationGracePeriodSeconds ${grace} < preStop ${pause} + drain ${drain} + ${SHUTDOWN_MARGIN_SECONDS}: SIGKILL would cut the drain`);
      return out;
    },
    breaks: [
      ['default grace period', (i) => void delete pod(i).pod.terminationGracePeriodSeconds],
      ['a longer drain, same grace period', (i) => setArg(i, 'shutdown-grace-seconds', '60')],
      ['preStop with a shell', (i) => void (pod(i).container.lifecycle = { preStop: { exec: { command: ['sh', '-c', 'sleep 5'] } } })],
      ['no preStop', (i) => void delete pod(i).container.lifecycle],
    ],
  },
  {
    name: "the image is kubegate at package.json's version",
    check: (i) => {
      const image = pod(i).container.image ?? '';
      return /(^|\/)kubegate:/.test(image) && image.endsWith(`:${PACKAGE_VERSION}`) ? [] : [`image ${image} is not kubegate:${PACKAGE_VERSION}`];
    },
    breaks: [['latest', (i) => void (pod(i).container.image = 'kubegate:latest')]],
  },
  {
    name: 'RBAC: no wildcard verbs, resources, groups or names, and no aggregated roles',
    check: (i) =>
      rolesOf(i.rbac).flatMap((role) => [
        ...(role.aggregationRule ? [`${describeRole(role)} aggregates other roles`] : []),
        ...(role.rules ?? []).flatMap((r) =>
          (['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const).flatMap((field) =>
            (r[field] ?? []).filter((v) => v.includes('*')).map((v) => `${describeRole(role)}: wildcard ${field} ${JSON.stringify(v)}`),
          ),
        ),
      ]),
    breaks: [
      ['verbs *', (i) => void find<Role>(i.rbac, 'Role')!.rules![0]!.verbs.push('*')],
      ['resources *', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: [''], resources: ['*'], verbs: ['get'] })],
      ['userextras/*', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: ['authentication.k8s.io'], resources: ['userextras/*'], verbs: ['impersonate'] })],
      ['apiGroups *', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: ['*'], resources: ['pods'], verbs: ['get'] })],
    ],
  },
  {
    name: 'RBAC: nothing that grants RBAC (roles, bindings, bind, escalate)',
    check: (i) =>
      rolesOf(i.rbac).flatMap((role) =>
        (role.rules ?? []).flatMap((r) => [
          ...((r.apiGroups ?? []).includes('rbac.authorization.k8s.io') ? [`${describeRole(role)}: a rule on rbac.authorization.k8s.io (${(r.resources ?? []).join(', ')})`] : []),
          ...r.verbs.filter((v) => /(^|:)(bind|escalate)$/.test(v)).map((v) => `${describeRole(role)}: verb ${v}`),
        ]),
      ),
    breaks: [
      ['create rolebindings', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: ['rbac.authorization.k8s.io'], resources: ['rolebindings'], verbs: ['create'] })],
      ['escalate', (i) => void find<Role>(i.rbac, 'Role')!.rules![0]!.verbs.push('escalate')],
    ],
  },
  {
    name: 'RBAC: exactly what kubegate uses: impersonation, SubjectAccessReviews, Elevations and Revocations in its namespace',
    check: (i) => {
      const ns = deployment(i).metadata.namespace ?? 'kubegate';
      const own = [
        'ClusterRole kubegate-impersonator: create authorization.k8s.io/subjectaccessreviews',
        ...ELEVATION_VERBS.map((v) => `Role ${ns}/kubegate-elevations: ${v} kubegate.io/elevations`),
        ...REVOCATION_VERBS.map((v) => `Role ${ns}/kubegate-revocations: ${v} kubegate.io/revocations`),
      ];
      const keys = extraKeys(i);
      const all = grants(i.rbac);
      const out: string[] = [];
      if (i.impersonation === 'unrestricted') {
        const expected = [
          ...own,
          ...['users', 'groups', 'serviceaccounts'].map((r) => `ClusterRole kubegate-impersonator: impersonate /${r}`),
          'ClusterRole kubegate-impersonator: impersonate authentication.k8s.io/uids',
          ...keys.map((k) => `ClusterRole kubegate-impersonator: impersonate authentication.k8s.io/userextras/${k}`),
        ].sort();
        const got = [...all].sort();
        for (const g of got) if (!expected.includes(g)) out.push(`grants more than it uses: ${g}`);
        for (const e of expected) if (!got.includes(e)) out.push(`does not grant what kubegate needs: ${e}`);
        return out;
      }
      for (const e of own) if (!all.includes(e)) out.push(`does not grant what kubegate needs: ${e}`);
      const who = new Set(all.filter((g) => g.includes(': impersonate:user-info ')).map((g) => g.split(' ').pop()!));
      for (const res of ['users', 'groups', 'uids', ...keys.map((k) => `userextras/${k}`)]) if (!who.has(`authentication.k8s.io/${res}`)) out.push(`constrained: may not impersonate ${res}`);
      for (const g of all.filter((g) => !own.includes(g))) {
        const [, verb, target] = /: (\S+) (\S+)/.exec(g)!;
        if (verb === 'impersonate:user-info' && /^authentication\.k8s\.io\/(users|groups|uids|userextras\/.+)$/.test(target!)) continue;
        if (/^impersonate-on:user-info:[a-z]+$/.test(verb!) && !/^\/secrets$/.test(target!)) continue;
        out.push(`constrained: grants more than constrained impersonation: ${g}`);
      }
      return out;
    },
    breaks: [
      ['delete Elevations', (i) => void find<Role>(i.rbac, 'Role')!.rules![0]!.verbs.push('delete')],
      ['read Secrets', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: [''], resources: ['secrets'], verbs: ['get'] })],
      ['no SubjectAccessReviews', (i) => { const r = find<Role>(i.rbac, 'ClusterRole')!; r.rules = r.rules!.filter((x: Rule) => !x.resources?.includes('subjectaccessreviews')); }],
      ['an extra key missing', (i) => editConfig(i, (doc) => void (doc.oidc!.extraClaims = { 'example.com/department': 'department' }))],
      ['unrestricted impersonation kept beside constrained', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: [''], resources: ['users'], verbs: ['impersonate'] }), constrained],
      ['Secrets read as anyone', (i) => void find<Role>(i.rbac, 'ClusterRole')!.rules!.push({ apiGroups: [''], resources: ['secrets'], verbs: ['impersonate-on:user-info:get'] }), constrained],
      ['constrained: uids missing', (i) => { const r = find<Role>(i.rbac, 'ClusterRole')!; r.rules![0]!.resources = ['users', 'groups']; }, constrained],
    ],
  },
  {
    name: 'RBAC: bound to kubegate\'s service account only, to roles that exist',
    check: (i) => {
      const roles = new Set(rolesOf(i.rbac).map((r) => `${r.kind}/${r.metadata.name}`));
      const ns = deployment(i).metadata.namespace;
      return bindingsOf(i.rbac).flatMap((b) => [
        ...(roles.has(`${b.roleRef.kind}/${b.roleRef.name}`) ? [] : [`${b.kind} ${b.metadata.name} refers to ${b.roleRef.kind} ${b.roleRef.name}, not installed here`]),
        ...(b.subjects ?? []).filter((s) => !(s.kind === 'ServiceAccount' && s.name === 'kubegate' && s.namespace === ns)).map((s) => `${b.kind} ${b.metadata.name} binds ${s.kind} ${s.namespace ? `${s.namespace}/` : ''}${s.name}`),
      ]);
    },
    breaks: [
      ['everyone authenticated', (i) => void find<Binding>(i.rbac, 'ClusterRoleBinding')!.subjects!.push({ kind: 'Group', name: 'system:authenticated', apiGroup: 'rbac.authorization.k8s.io' })],
      ['a built-in role', (i) => void (find<Binding>(i.rbac, 'ClusterRoleBinding')!.roleRef.name = 'cluster-admin')],
    ],
  },
];
