/**
 * The Kubernetes revocation store (see stores.ts): its own module, because it loads client-node's generated
 * API clients (most of that package's memory), which only a process configured with it should pay for.
 */
import { createKubeStore, type KubeStoreOptions } from '../store/kube-store.js';
import { REVOCATION_RESOURCE, type RevocationStore } from './stores.js';

/** Revocations as namespaced custom resources, watched: every replica sees a change within a second. */
export function createKubeRevocationStore(opts: KubeStoreOptions): RevocationStore {
  return createKubeStore(opts, REVOCATION_RESOURCE);
}
