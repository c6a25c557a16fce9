/**
 * The kustomize installs as the cluster would receive them: each overlay rendered by the real
 * `kubectl kustomize` (kubectl's built-in kustomize, no network), parsed with `yaml`, plus kubegate's
 * effective configuration as `serve` would load it from the rendered ConfigMap and container args.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/schema.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const KUBECTL = process.env.KUBECTL || (existsSync('/usr/bin/kubectl') ? '/usr/bin/kubectl' : 'kubectl');

export interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
export interface Obj {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: unknown;
}
export interface SecurityContext {
  runAsNonRoot?: boolean;
  runAsUser?: number;
  runAsGroup?: number;
  fsGroup?: number;
  allowPrivilegeEscalation?: boolean;
  readOnlyRootFilesystem?: boolean;
  privileged?: boolean;
  capabilities?: { drop?: string[]; add?: string[] };
  seccompProfile?: { type?: string };
}
export interface Probe {
  httpGet?: { path?: string; port?: string | number; scheme?: string };
  exec?: { command?: string[] };
  tcpSocket?: unknown;
}
export interface VolumeMount {
  name: string;
  mountPath: string;
  subPath?: string;
  readOnly?: boolean;
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  ports?: { name?: string; containerPort: number; protocol?: string }[];
  startupProbe?: Probe;
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number }; exec?: { command?: string[] }; httpGet?: unknown } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: SecurityContext;
  volumeMounts?: VolumeMount[];
}
export interface ProjectedSource {
  serviceAccountToken?: { path: string; expirationSeconds?: number; audience?: string };
  configMap?: { name: string; items?: { key: string; path: string }[] };
  downwardAPI?: { items?: { path: string; fieldRef?: { fieldPath: string } }[] };
  secret?: { name: string };
}
export interface Volume {
  name: string;
  configMap?: { name: string };
  secret?: { secretName: string; defaultMode?: number };
  projected?: { defaultMode?: number; sources: ProjectedSource[] };
  hostPath?: unknown;
}
export interface PodSpec {
  serviceAccountName?: string;
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  hostIPC?: boolean;
  terminationGracePeriodSeconds?: number;
  securityContext?: SecurityContext;
  topologySpreadConstraints?: { topologyKey: string; whenUnsatisfiable?: string; labelSelector?: { matchLabels?: Record<string, string> } }[];
  affinity?: { podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: { topologyKey: string; labelSelector?: { matchLabels?: Record<string, string> } }[] } };
  containers: Container[];
  volumes?: Volume[];
}
export interface Deployment extends Obj {
  spec: {
    replicas?: number;
    selector: { matchLabels?: Record<string, string> };
    strategy?: { type?: string; rollingUpdate?: { maxSurge?: number | string; maxUnavailable?: number | string } };
    template: { metadata: { labels?: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec };
  };
}
export interface Rule {
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
}
export interface Role extends Obj {
  rules?: Rule[];
  aggregationRule?: unknown;
}
export interface Binding extends Obj {
  roleRef: { apiGroup: string; kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string; apiGroup?: string }[];
}
export interface ConfigMap extends Obj {
  data?: Record<string, string>;
}
export interface ServicePort {
  name?: string;
  port: number;
  targetPort?: string | number;
}
export interface Service extends Obj {
  spec: { type?: string; clusterIP?: string; selector?: Record<string, string>; ports: ServicePort[] };
}
export interface NetworkPolicyPort {
  protocol?: string;
  port?: number | string;
  endPort?: number;
}
export interface NetworkPolicyRule {
  from?: unknown[];
  to?: unknown[];
  ports?: NetworkPolicyPort[];
}
export interface NetworkPolicy extends Obj {
  spec: {
    podSelector: { matchLabels?: Record<string, string> };
    policyTypes?: string[];
    ingress?: NetworkPolicyRule[];
    egress?: NetworkPolicyRule[];
  };
}
export interface PodDisruptionBudget extends Obj {
  spec: { maxUnavailable?: number | string; minAvailable?: number | string; selector: { matchLabels?: Record<string, string> } };
}
export interface ServiceAccount extends Obj {
  automountServiceAccountToken?: boolean;
}
export interface Certificate extends Obj {
  spec: { secretName: string; dnsNames?: string[]; issuerRef?: { name?: string; kind?: string } };
}

const rendered = new Map<string, Obj[]>();

/** `kubectl kustomize DIR` (DIR relative to the repository), parsed; rendered once per test process. */
export function render(dir: string): Obj[] {
  let objects = rendered.get(dir);
  if (!objects) {
    const text = execFileSync(KUBECTL, ['kustomize', join(ROOT, dir)], { encoding: 'utf8', timeout: 30_000, maxBuffer: 16 << 20, stdio: ['ignore', 'pipe', 'pipe'] });
    objects = YAML.parseAllDocuments(text).map((d) => d.toJS() as Obj).filter((o) => o !== null);
    rendered.set(dir, objects);
  }
  return structuredClone(objects);
}

export function all<T extends Obj>(objects: readonly Obj[], kind: string): T[] {
  return objects.filter((o) => o.kind === kind) as T[];
}

export function find<T extends Obj>(objects: readonly Obj[], kind: string, name?: string): T | undefined {
  return objects.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name)) as T | undefined;
}

/** The one kubegate Deployment and its kubegate container. @throws when either is missing. */
export function kubegatePod(objects: readonly Obj[]): { deployment: Deployment; pod: PodSpec; container: Container } {
  const deployment = find<Deployment>(objects, 'Deployment', 'kubegate');
  if (!deployment) throw new Error('no Deployment "kubegate"');
  const pod = deployment.spec.template.spec;
  const container = pod.containers.find((c) => c.name === 'kubegate');
  if (!container) throw new Error('Deployment "kubegate" has no container "kubegate"');
  return { deployment, pod, container };
}

/** Does `labels` carry every pair of `selector`? (An empty selector selects nothing here.) */
export function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  const pairs = Object.entries(selector ?? {});
  return pairs.length > 0 && pairs.every(([k, v]) => labels?.[k] === v);
}

/** The value of `--name=value` or `--name value` in args, if present. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg.startsWith(`--${name}=`)) return arg.slice(name.length + 3);
    if (arg === `--${name}`) return args[i + 1];
  }
  return undefined;
}

/** The mount (and its volume) under which a container path lies. */
export function mountFor(pod: PodSpec, container: Container, path: string): { mount: VolumeMount; volume: Volume | undefined } | undefined {
  const mount = (container.volumeMounts ?? [])
    .filter((m) => path === m.mountPath || path.startsWith(m.mountPath.endsWith('/') ? m.mountPath : `${m.mountPath}/`))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!mount) return undefined;
  return { mount, volume: (pod.volumes ?? []).find((v) => v.name === mount.name) };
}

export type Effective = { ok: true; config: Readonly<Config>; text: string; configMap: ConfigMap; key: string } | { ok: false; problem: string };

/**
 * kubegate's configuration as `serve` loads it in the pod: the config file read from the ConfigMap the
 * `--config` path is mounted from, then the container's flags (no environment).
 */
export function effectiveConfig(objects: readonly Obj[]): Effective {
  const { pod, container } = kubegatePod(objects);
  const args = container.args ?? [];
  if (args[0] !== 'serve') return { ok: false, problem: `the container's args start with ${JSON.stringify(args[0])}, not "serve"` };
  const path = flagValue(args, 'config');
  if (!path) return { ok: false, problem: 'no --config flag' };
  const where = mountFor(pod, container, path);
  const name = where?.volume?.configMap?.name;
  if (!where || !name) return { ok: false, problem: `--config ${path} is not on a ConfigMap volume` };
  const configMap = find<ConfigMap>(objects, 'ConfigMap', name);
  const key = posix.relative(where.mount.subPath ? posix.dirname(where.mount.mountPath) : where.mount.mountPath, path);
  const text = configMap?.data?.[where.mount.subPath ?? key];
  if (text === undefined) return { ok: false, problem: `ConfigMap ${JSON.stringify(name)} has no key ${JSON.stringify(key)} for --config ${path}` };
  const dir = mkdtempSync(join(tmpdir(), 'kubegate-manifest-'));
  try {
    const file = join(dir, basename(path));
    writeFileSync(file, text);
    const argv = args.slice(1).map((a) => (a === `--config=${path}` ? `--config=${file}` : a === path ? file : a));
    const { config } = loadConfig(argv, {});
    return { ok: true, config, text, configMap: configMap!, key };
  } catch (err) {
    return { ok: false, problem: `serve would refuse to start: ${(err as Error).message}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `HOST:PORT` → its parts ([::1]:9090 too). */
export function hostPort(address: string): { host: string; port: number } | undefined {
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(address);
  return m ? { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) } : undefined;
}

/** A port of a container by name or number. */
export function containerPort(container: Container, port: string | number | undefined): number | undefined {
  if (typeof port === 'number') return port;
  return container.ports?.find((p) => p.name === port)?.containerPort;
}

/** Kubernetes quantities we use (m, Ki, Mi, Gi, plain) as numbers, for comparisons. */
export function quantity(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G)?$/.exec(String(value));
  if (!m) return NaN;
  const factor: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9 };
  return Number(m[1]) * (m[2] ? factor[m[2]]! : 1);
}
