/**
 * The elevation flavour of the shared store pieces (store/): how an Elevation is copied, the local view
 * with ElevationEvents, and a shared ReplicatedStore seen as an ElevationStore. The view's ordering rules
 * (an older version never replaces a newer one; a deletion's tombstone keeps a late copy from bringing a
 * revoked grant back) are store/local-view.ts's.
 */
import type { Logger } from '../log/logger.js';
import { createLocalView as createSharedView } from '../store/local-view.js';
import type { ItemCopies, ReplicatedStore, StoreErrorCodes, StoreEvent } from '../store/types.js';
import type { Elevation, ElevationEvent, ElevationStore } from './types.js';

export { compareResourceVersions } from '../store/local-view.js';

/** A deep-frozen copy: what the view holds and `snapshot()` hands out. */
export function frozenCopy(e: Elevation): Elevation {
  return Object.freeze({ ...e, groups: Object.freeze([...e.groups]) as string[] });
}

/** A plain, mutable copy for callers of create/update/get. */
export function plainCopy(e: Elevation): Elevation {
  return { ...e, groups: [...e.groups] };
}

export const ELEVATION_COPIES: ItemCopies<Elevation> = { frozen: frozenCopy, plain: plainCopy };
export const ELEVATION_STORE_CODES: StoreErrorCodes = {
  conflict: 'ELEVATION_CONFLICT',
  notFound: 'ELEVATION_NOT_FOUND',
  unavailable: 'ELEVATION_STORE_UNAVAILABLE',
  invalid: 'ELEVATION_INVALID',
};

const asElevationEvent = (event: StoreEvent<Elevation>): ElevationEvent => (event.type === 'upsert' ? { type: 'upsert', elevation: event.item } : event);

export interface LocalView {
  get(id: string): Elevation | undefined;
  snapshot(): readonly Elevation[];
  onChange(listener: (event: ElevationEvent) => void): () => void;
  upsert(elevation: Elevation): boolean;
  remove(id: string, resourceVersion?: string): boolean;
  reset(items: readonly Elevation[], opts: { authoritative: true } | { listResourceVersion: string | undefined }): void;
  clear(): void;
}

/** The shared local view holding elevations, telling listeners in ElevationEvents. */
export function createLocalView(log: Logger, storeName: string): LocalView {
  const view = createSharedView<Elevation>(log, storeName, 'elevation', ELEVATION_COPIES);
  return { ...view, onChange: (listener) => view.onChange((event) => listener(asElevationEvent(event))) };
}

/** A shared store of elevations as the ElevationStore the grant service uses (events named for grants). */
export function elevationStoreFrom(store: ReplicatedStore<Elevation>): ElevationStore {
  return {
    ready: () => store.ready(),
    create: (e) => store.create(e),
    update: (e) => store.update(e),
    get: (id) => store.get(id),
    snapshot: () => store.snapshot(),
    onChange: (listener) => store.onChange((event) => listener(asElevationEvent(event))),
    close: () => store.close(),
  };
}
