/**
 * ElevationStore on the Kubernetes API: one namespaced custom resource `Elevation`
 * (kubegate.io/v1alpha1, plural `elevations`, manifests/rbac/elevation-store/elevation-crd.yaml) per grant,
 * through the shared Kubernetes store (store/kube-store.ts: informer, reconnects, error translation), read
 * and written as kubegate itself (its own credential, never impersonating), so every replica shares the
 * same grants. The CRD has no status subresource: `update` replaces spec and status together, with
 * `metadata.resourceVersion`, so two racing approvals cannot both win (409 → ELEVATION_CONFLICT).
 *
 * RBAC it needs (namespace-scoped Role): get, list, watch, create, update on `elevations.kubegate.io`.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { createKubeStore, type KubeRecordType, type KubeStoreOptions } from '../store/kube-store.js';
import { ELEVATION_COPIES, ELEVATION_STORE_CODES, elevationStoreFrom } from './local-view.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, ELEVATION_KIND, ELEVATION_PLURAL, type Elevation, type ElevationPhase, type ElevationStore } from './types.js';

export type KubeElevationStoreOptions = KubeStoreOptions;

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


export const ELEVATION_RESOURCE: KubeRecordType<Elevation> = {
  noun: 'elevation',
  codes: ELEVATION_STORE_CODES,
  copies: ELEVATION_COPIES,
  group: ELEVATION_API_GROUP,
  version: ELEVATION_API_VERSION,
  kind: ELEVATION_KIND,
  plural: ELEVATION_PLURAL,
  crdFile: 'manifests/rbac/elevation-store/elevation-crd.yaml',
  toResource,
  fromResource(obj) {
    const parsed = fromResource(obj);
    return 'elevation' in parsed ? { item: parsed.elevation } : parsed;
  },
};

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
  return elevationStoreFrom(createKubeStore(opts, ELEVATION_RESOURCE));
}
