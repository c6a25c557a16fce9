/**
 * The in-memory view a replicated store keeps (read on every request) and the listeners it tells about
 * changes. Generic over the stored item (an elevation grant, a revocation); shared by the Kubernetes and
 * the file stores (store/kube-store.ts, store/file-store.ts), so both emit the same events by the same rules.
 *
 * Ordering: events reach a store from two sides (its own write's response, and the watch), which can
 * arrive out of order. Resource versions of one resource are comparable integers (Kubernetes KEP-5504,
 * stable in 1.35; etcd revisions before that in practice; the file store's counter); when two versions
 * compare, an older one never replaces a newer one, and a deletion leaves a tombstone so a late, older
 * copy cannot bring a deleted (e.g. revoked) item back. Versions that do not compare are applied in
 * arrival order.
 */
import type { Logger } from '../log/logger.js';
import type { ItemCopies, StoredItem, StoreEvent } from './types.js';

export interface LocalView<T extends StoredItem> {
  get(id: string): T | undefined;
  /** Every item held, frozen; the same array until the next change (cheap to call per request). */
  snapshot(): readonly T[];
  onChange(listener: (event: StoreEvent<T>) => void): () => void;
  /** Apply a version of one item; false (nothing emitted) when it is the one held or an older one. */
  upsert(item: T): boolean;
  /** Remove one; `resourceVersion` is the deletion's (if known). False when absent or the deletion is older. */
  remove(id: string, resourceVersion?: string): boolean;
  /**
   * Replace the view with a full listing, emitting the differences. `authoritative`: the listing is the
   * truth (file store). Otherwise (`listResourceVersion`, a relist), entries newer than the listing, e.g. an
   * own write that landed after the list was served, are kept.
   */
  reset(items: readonly T[], opts: { authoritative: true } | { listResourceVersion: string | undefined }): void;
  /** Drop every listener. */
  clear(): void;
}

const MAX_TOMBSTONES = 1000;

/**
 * Compare two resource versions as KEP-5504 defines them: positive integers without leading zeros.
 * @returns negative, 0 or positive like a sort comparator, or undefined when either is not such a number.
 */
export function compareResourceVersions(a: string | undefined, b: string | undefined): number | undefined {
  const valid = (v: string | undefined): v is string => v !== undefined && /^[1-9][0-9]*$/.test(v);
  if (!valid(a) || !valid(b)) return undefined;
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * @param storeName for the log (`kubernetes`, `file`).
 * @param noun what the items are, for the log (`elevation`, `revocation`).
 */
export function createLocalView<T extends StoredItem>(log: Logger, storeName: string, noun: string, copies: ItemCopies<T>): LocalView<T> {
  const items = new Map<string, T>();
  /** id → resourceVersion of its deletion (comparable versions only), oldest first. */
  const tombstones = new Map<string, string>();
  const listeners = new Set<(event: StoreEvent<T>) => void>();
  let cached: readonly T[] | undefined;

  const emit = (event: StoreEvent<T>) => {
    cached = undefined;
    for (const listener of [...listeners]) {
      try {
        listener(event);
      } catch (err) {
        log.error(`${noun} store: a change listener threw`, { store: storeName, event: event.type, error: (err as Error)?.message });
      }
    }
  };
  const older = (a: string | undefined, b: string | undefined) => (compareResourceVersions(a, b) ?? 1) < 0;
  const bury = (id: string, rv: string | undefined) => {
    tombstones.delete(id);
    if (compareResourceVersions(rv, rv) === undefined) return; // only comparable versions can order a late copy
    tombstones.set(id, rv!);
    if (tombstones.size > MAX_TOMBSTONES) tombstones.delete(tombstones.keys().next().value!);
  };

  const view: LocalView<T> = {
    get: (id) => items.get(id),
    snapshot() {
      cached ??= Object.freeze([...items.values()]);
      return cached;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    upsert(item) {
      const held = items.get(item.id);
      if (held && held.resourceVersion !== undefined && held.resourceVersion === item.resourceVersion) return false;
      if (held && older(item.resourceVersion, held.resourceVersion)) return false;
      const tomb = tombstones.get(item.id);
      if (tomb !== undefined && (compareResourceVersions(item.resourceVersion, tomb) ?? 1) <= 0) return false;
      tombstones.delete(item.id);
      const stored = copies.frozen(item);
      items.set(stored.id, stored);
      emit({ type: 'upsert', item: stored });
      return true;
    },
    remove(id, resourceVersion) {
      const held = items.get(id);
      if (held && resourceVersion !== undefined && older(resourceVersion, held.resourceVersion)) return false;
      bury(id, resourceVersion);
      if (!held) return false;
      items.delete(id);
      emit({ type: 'delete', id });
      return true;
    },
    reset(listed, opts) {
      if ('authoritative' in opts) {
        tombstones.clear();
        const ids = new Set(listed.map((e) => e.id));
        for (const id of [...items.keys()]) {
          if (!ids.has(id)) {
            items.delete(id);
            emit({ type: 'delete', id });
          }
        }
        for (const e of listed) {
          const held = items.get(e.id);
          if (held && held.resourceVersion === e.resourceVersion) continue;
          const stored = copies.frozen(e);
          items.set(e.id, stored);
          emit({ type: 'upsert', item: stored });
        }
        return;
      }
      const listRv = opts.listResourceVersion;
      for (const [id, rv] of [...tombstones]) if (listRv === undefined || !older(listRv, rv)) tombstones.delete(id);
      const ids = new Set(listed.map((e) => e.id));
      for (const [id, held] of [...items]) {
        if (ids.has(id)) continue;
        // Absent from the listing: deleted, unless it is newer than the listing (an own write since).
        if (listRv !== undefined && (compareResourceVersions(held.resourceVersion, listRv) ?? 0) > 0) continue;
        items.delete(id);
        emit({ type: 'delete', id });
      }
      for (const e of listed) view.upsert(e);
    },
    clear() {
      listeners.clear();
    },
  };
  return view;
}
