/**
 * Break-glass elevation: the plain data shared by the policy, the grant service, the stores, the HTTP
 * API (`/kubegate/v1/elevations`) and the CLI (`kubegate sudo`, `kubegate elevations`). No behaviour here.
 *
 * An Elevation is one person's request to hold extra groups for a bounded time, with a reason. Its life:
 *
 *   Pending ──approve──▶ Active ──(expiresAt passes)──▶ Expired
 *      │                   └──revoke──▶ Revoked
 *      ├──revoke──▶ Revoked
 *      └──(pendingExpiresAt passes)──▶ Expired
 *
 * A rule without approval creates the elevation Active at once. Times are ISO 8601 strings (UTC).
 */

export const ELEVATION_API_GROUP = 'kubegate.io';
export const ELEVATION_API_VERSION = 'v1alpha1';
export const ELEVATION_KIND = 'Elevation';
export const ELEVATION_PLURAL = 'elevations';

export type ElevationPhase = 'Pending' | 'Active' | 'Revoked' | 'Expired';

/** What a person asks for (the body of `POST /kubegate/v1/elevations`). */
export interface ElevationRequest {
  /** Groups to hold, each allowed by one policy rule the person is eligible for. */
  groups: string[];
  /** How long, in seconds, once active (at most the rule's maximum). */
  durationSeconds: number;
  /** Why (an incident number, a ticket): required, at least the rule's minimum length. */
  reason: string;
}

export interface Elevation {
  /** Unique, DNS-label safe (`elev-` + random): the custom resource's name. */
  id: string;
  /** The authenticated username of the person who asked (never an --as target). */
  requester: string;
  groups: string[];
  durationSeconds: number;
  reason: string;
  /** The policy rule that allowed it. */
  rule: string;
  phase: ElevationPhase;
  createdAt: string;
  /** Pending only: when the request lapses unapproved. */
  pendingExpiresAt?: string;
  approvedBy?: string;
  approvedAt?: string;
  /** Active from: approval time, or creation time when no approval is needed. */
  activeAt?: string;
  /** Set when it becomes Active: activeAt + durationSeconds. */
  expiresAt?: string;
  revokedBy?: string;
  revokedAt?: string;
  /** Store-assigned version for optimistic concurrency; opaque. Absent on create. */
  resourceVersion?: string;
}

/** The answer of `GET /kubegate/v1/elevations`. */
export interface ElevationList {
  items: Elevation[];
}

/** A change seen by a store: what replicas react to (grants taking effect, revocations). */
export type ElevationEvent = { type: 'upsert'; elevation: Elevation } | { type: 'delete'; id: string };

/**
 * Where elevations live. One implementation talks to the Kubernetes API (a namespaced custom resource,
 * watched by an informer so every replica sees every change); one uses a file (demo, unit tests).
 * Every method but `snapshot`/`onChange` may throw a KubegateError (ELEVATION_STORE_UNAVAILABLE,
 * ELEVATION_CONFLICT on a stale resourceVersion, ELEVATION_NOT_FOUND).
 */
export interface ElevationStore {
  /** Resolves once the local view is in sync (initial list done). */
  ready(): Promise<void>;
  /** Create; the returned copy carries its resourceVersion. */
  create(elevation: Elevation): Promise<Elevation>;
  /**
   * Replace an existing one if `elevation.resourceVersion` is still current; otherwise throw
   * ELEVATION_CONFLICT (two racing approvals cannot both win).
   */
  update(elevation: Elevation): Promise<Elevation>;
  /** Read through to the store (fresh, for read-modify-write). */
  get(id: string): Promise<Elevation | undefined>;
  /** The local view, kept current by a watch: read on every request, so it must be cheap and synchronous. */
  snapshot(): readonly Elevation[];
  /** Called for every change the local view applies (own writes and other replicas'). Returns an unsubscribe. */
  onChange(listener: (event: ElevationEvent) => void): () => void;
  close(): void;
}
