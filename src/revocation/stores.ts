/**
 * Where revocations live: the shared stores of store/ (the same machinery as elevation grants) with the
 * Revocation record type. On Kubernetes, one namespaced custom resource `Revocation` (kubegate.io/v1alpha1,
 * plural `revocations`, manifests/rbac/revocation-store/revocation-crd.yaml) per revocation, watched by every
 * replica (a change is seen within a second); in a file (`RevocationFile`), polled every 250 ms by every
 * kubegate process sharing it (demo, tests, a single host).
 *
 * RBAC the Kubernetes store needs (Role in its namespace): get, list, watch, create, delete on
 * `revocations.kubegate.io`. The Kubernetes store itself is in kube-store.ts, so that only a process
 * configured with it loads client-node's API clients.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { createFileStore, type FileRecordType, type FileStoreOptions } from '../store/file-store.js';
import type { KubeRecordType } from '../store/kube-store.js';
import type { ItemCopies, ReplicatedStore, StoreErrorCodes } from '../store/types.js';
import { REVOCATION_API_GROUP, REVOCATION_API_VERSION, REVOCATION_KIND, REVOCATION_PLURAL, type Revocation } from './types.js';

export type RevocationStore = ReplicatedStore<Revocation>;

const CODES: StoreErrorCodes = {
  conflict: 'REVOCATION_CONFLICT',
  notFound: 'REVOCATION_NOT_FOUND',
  unavailable: 'REVOCATION_STORE_UNAVAILABLE',
  invalid: 'REVOCATION_INVALID',
};
const COPIES: ItemCopies<Revocation> = { frozen: (r) => Object.freeze({ ...r }), plain: (r) => ({ ...r }) };
const OPTIONAL = ['user', 'group', 'issuedBefore', 'resourceVersion'] as const;

/** The first problem of a revocation read from a file or the API server, or undefined when well-formed. */
export function checkRevocation(item: unknown): string | undefined {
  const r = item as Record<string, unknown> | null;
  if (!r || typeof r !== 'object') return 'not an object';
  for (const field of ['id', 'reason', 'createdBy', 'createdAt'] as const) if (typeof r[field] !== 'string' || r[field] === '') return `${field} is not a non-empty string`;
  for (const field of OPTIONAL) if (r[field] !== undefined && typeof r[field] !== 'string') return `${field} is not a string`;
  if ((r.user === undefined) === (r.group === undefined)) return 'exactly one of user and group must be set';
  if (r.user === '' || r.group === '') return 'user/group is empty';
  if (r.issuedBefore !== undefined && Number.isNaN(Date.parse(r.issuedBefore as string))) return 'issuedBefore is not a time';
  return undefined;
}

/** The custom resource as stored in the API server: everything is spec (a revocation never changes). */
export interface RevocationResource extends KubernetesObject {
  apiVersion: `${typeof REVOCATION_API_GROUP}/${typeof REVOCATION_API_VERSION}`;
  kind: typeof REVOCATION_KIND;
  metadata: { name: string; namespace?: string; resourceVersion?: string; [key: string]: unknown };
  spec: Omit<Revocation, 'id' | 'resourceVersion'>;
}

export function toResource(r: Revocation, namespace: string): RevocationResource {
  const spec: RevocationResource['spec'] = { reason: r.reason, createdBy: r.createdBy, createdAt: r.createdAt };
  if (r.user !== undefined) spec.user = r.user;
  if (r.group !== undefined) spec.group = r.group;
  if (r.issuedBefore !== undefined) spec.issuedBefore = r.issuedBefore;
  return {
    apiVersion: `${REVOCATION_API_GROUP}/${REVOCATION_API_VERSION}`,
    kind: REVOCATION_KIND,
    metadata: { name: r.id, namespace, ...(r.resourceVersion !== undefined ? { resourceVersion: r.resourceVersion } : {}) },
    spec,
  };
}

export function fromResource(obj: unknown): { item: Revocation } | { problem: string } {
  const o = obj as Partial<RevocationResource> | null;
  const name = o?.metadata?.name;
  if (typeof name !== 'string' || !name) return { problem: 'metadata.name missing' };
  const spec = o?.spec as Record<string, unknown> | undefined;
  if (!spec || typeof spec !== 'object') return { problem: 'spec missing' };
  const rv = o?.metadata?.resourceVersion;
  const candidate: Record<string, unknown> = { id: name };
  for (const field of ['user', 'group', 'issuedBefore', 'reason', 'createdBy', 'createdAt'] as const) if (spec[field] !== undefined && spec[field] !== null) candidate[field] = spec[field];
  if (typeof rv === 'string' && rv) candidate.resourceVersion = rv;
  const problem = checkRevocation(candidate);
  return problem === undefined ? { item: candidate as unknown as Revocation } : { problem: `spec: ${problem}` };
}

export const REVOCATION_RESOURCE: KubeRecordType<Revocation> = {
  noun: 'revocation',
  codes: CODES,
  copies: COPIES,
  group: REVOCATION_API_GROUP,
  version: REVOCATION_API_VERSION,
  kind: REVOCATION_KIND,
  plural: REVOCATION_PLURAL,
  crdFile: 'manifests/rbac/revocation-store/revocation-crd.yaml',
  toResource,
  fromResource,
};

export const REVOCATION_FILE: FileRecordType<Revocation> = {
  noun: 'revocation',
  codes: CODES,
  copies: COPIES,
  kind: 'RevocationFile',
  apiVersion: `${REVOCATION_API_GROUP}/${REVOCATION_API_VERSION}`,
  check: checkRevocation,
};

/** Revocations in a JSON file shared by the kubegate processes of one host (demo, tests). */
export function createFileRevocationStore(opts: FileStoreOptions): RevocationStore {
  return createFileStore(opts, REVOCATION_FILE);
}
