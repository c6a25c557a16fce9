/** The installs the manifests offer, each rendered from its overlay (and, with a kubeconfig, the other cluster's part). */
import { render, type Obj } from './render.js';
import type { Install } from './invariants.js';

interface InstallSpec {
  name: string;
  /** The overlay `kubectl apply -k` is pointed at, relative to the repository. */
  dir: string;
  /** Where kubegate's permissions are applied when that is another cluster. */
  rbacDir?: string;
  credential: Install['credential'];
  impersonation: Install['impersonation'];
}

export const INSTALL_SPECS: InstallSpec[] = [
  { name: 'default (manifests/)', dir: 'manifests', credential: 'service-account', impersonation: 'unrestricted' },
  { name: 'in-cluster', dir: 'manifests/overlays/in-cluster', credential: 'service-account', impersonation: 'unrestricted' },
  { name: 'cert-manager', dir: 'manifests/overlays/cert-manager', credential: 'service-account', impersonation: 'unrestricted' },
  { name: 'constrained-impersonation', dir: 'manifests/overlays/constrained-impersonation', credential: 'service-account', impersonation: 'constrained' },
  { name: 'external-cluster (+ upstream/ in the other cluster)', dir: 'manifests/overlays/external-cluster', rbacDir: 'manifests/overlays/external-cluster/upstream', credential: 'kubeconfig', impersonation: 'unrestricted' },
];

/** A freshly rendered install (its own copy: edits do not leak between tests). */
export function loadInstall(spec: InstallSpec): Install {
  const workload: Obj[] = render(spec.dir);
  const rbac = spec.rbacDir ? render(spec.rbacDir) : workload;
  return { name: spec.name, credential: spec.credential, impersonation: spec.impersonation, workload, rbac };
}
