/**
 * ElevationStore in a JSON file, for the demo and unit tests (and a single-host kubegate): the shared file
 * store (store/file-store.ts: locking, atomic writes, polling, the file format) holding Elevations. Several
 * kubegate processes may share the file: each sees the others' changes within `pollMs` (default 250 ms).
 *
 * File format (mode 0600; a missing file is an empty store):
 *   { "apiVersion": "kubegate.io/v1alpha1", "kind": "ElevationFile", "revision": 7, "items": [Elevation, ...] }
 * I/O failures throw ELEVATION_STORE_UNAVAILABLE; a stale resourceVersion ELEVATION_CONFLICT.
 */
import { createFileStore, type FileRecordType, type FileStoreOptions } from '../store/file-store.js';
import { ELEVATION_COPIES, ELEVATION_STORE_CODES, elevationStoreFrom } from './local-view.js';
import { ELEVATION_API_GROUP, ELEVATION_API_VERSION, type Elevation, type ElevationPhase, type ElevationStore } from './types.js';

export type FileElevationStoreOptions = FileStoreOptions;

const PHASES: readonly ElevationPhase[] = ['Pending', 'Active', 'Revoked', 'Expired'];
const OPTIONAL_STRINGS = ['pendingExpiresAt', 'approvedBy', 'approvedAt', 'activeAt', 'expiresAt', 'revokedBy', 'revokedAt', 'resourceVersion'] as const;

export const ELEVATION_FILE: FileRecordType<Elevation> = {
  kind: 'ElevationFile',
  apiVersion: `${ELEVATION_API_GROUP}/${ELEVATION_API_VERSION}`,
  noun: 'elevation',
  codes: ELEVATION_STORE_CODES,
  copies: ELEVATION_COPIES,
  check: checkElevation,
};

/**
 * Open the store. Reading starts at once; `ready()` resolves after the first read of the file (and
 * rejects with ELEVATION_STORE_UNAVAILABLE if that read fails, e.g. the file is not JSON).
 *
 * @example
 * ```ts
 * const store = createFileElevationStore({ path: '/var/lib/kubegate/elevations.json', log });
 * await store.ready();
 * ```
 */
export function createFileElevationStore(opts: FileElevationStoreOptions): ElevationStore {
  return elevationStoreFrom(createFileStore(opts, ELEVATION_FILE));
}

/** The first problem of an entry, or undefined when it is a well-formed Elevation. */
function checkElevation(item: unknown): string | undefined {
  const e = item as Record<string, unknown> | null;
  if (!e || typeof e !== 'object') return 'not an object';
  for (const field of ['id', 'requester', 'reason', 'rule', 'createdAt'] as const) if (typeof e[field] !== 'string' || (field === 'id' && !e[field])) return `${field} is not a string`;
  if (!Array.isArray(e.groups) || !e.groups.every((g) => typeof g === 'string')) return 'groups is not a list of strings';
  if (typeof e.durationSeconds !== 'number' || !Number.isInteger(e.durationSeconds) || e.durationSeconds <= 0) return 'durationSeconds is not a positive integer';
  if (!PHASES.includes(e.phase as ElevationPhase)) return 'phase is not a known phase';
  for (const field of OPTIONAL_STRINGS) if (e[field] !== undefined && typeof e[field] !== 'string') return `${field} is not a string`;
  return undefined;
}
