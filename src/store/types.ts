/**
 * A replicated collection of small records kubegate shares between its replicas (elevation grants,
 * revocations): every replica keeps a local view, read synchronously on every request, kept current by a
 * watch (Kubernetes custom resources, store/kube-store.ts) or by polling a file (store/file-store.ts).
 * The record types and their checks live with their owners (elevation/, revocation/); this folder knows
 * only ids and versions.
 */
import type { ErrorCode } from '../errors/errors.js';

/** What every stored item has: a unique id and the store's opaque version. */
export interface StoredItem {
  /** Unique, DNS-label safe: the custom resource's name. */
  id: string;
  /** Store-assigned version for optimistic concurrency; opaque. Absent on create. */
  resourceVersion?: string;
}

/** A change seen by a store (own writes and other replicas'). */
export type StoreEvent<T> = { type: 'upsert'; item: T } | { type: 'delete'; id: string };

/** How to copy an item: deep-frozen for the view, plain (mutable) for callers. */
export interface ItemCopies<T> {
  frozen(item: T): T;
  plain(item: T): T;
}

/** The error codes a store throws, per record type (each owner has its own, e.g. ELEVATION_CONFLICT). */
export interface StoreErrorCodes {
  /** create of an existing id, or update with a stale resourceVersion. */
  conflict: ErrorCode;
  /** update or delete of an id that does not exist. */
  notFound: ErrorCode;
  /** the backing is unreachable, refuses kubegate, or cannot be read. */
  unavailable: ErrorCode;
  /** the backing refused the object (the CRD's schema). */
  invalid: ErrorCode;
}

/** What a store needs to know about its record type. */
export interface StoreRecordType<T extends StoredItem> {
  /** For messages and logs: `elevation`, `revocation`. */
  noun: string;
  codes: StoreErrorCodes;
  copies: ItemCopies<T>;
}

/**
 * Where records live. Every method but `snapshot`/`onChange` may throw a KubegateError with one of the
 * record type's codes.
 */
export interface ReplicatedStore<T extends StoredItem> {
  /** Resolves once the local view is in sync (initial list done). */
  ready(): Promise<void>;
  /** Create; the returned copy carries its resourceVersion. */
  create(item: T): Promise<T>;
  /** Replace an existing one if `item.resourceVersion` is still current; otherwise throw the conflict code. */
  update(item: T): Promise<T>;
  /** Read through to the store (fresh, for read-modify-write). */
  get(id: string): Promise<T | undefined>;
  /** Delete one; false when it did not exist. */
  delete(id: string): Promise<boolean>;
  /** The local view, kept current by a watch: read on every request, so it must be cheap and synchronous. */
  snapshot(): readonly T[];
  /** Called for every change the local view applies (own writes and other replicas'). Returns an unsubscribe. */
  onChange(listener: (event: StoreEvent<T>) => void): () => void;
  close(): void;
}
