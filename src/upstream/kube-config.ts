/**
 * @kubernetes/client-node's `KubeConfig` (kubeconfig and in-cluster loading, credentials, TLS options),
 * imported from the module that defines it rather than the package's main entry, which also loads the
 * informers, exec, attach, copy (tar) and WebSocket helpers kubegate does not use on its serving path.
 * (The package has no `exports` map, so the deep import is allowed.) The generated API clients load when a
 * path imports them from the package: access reviews, TokenReview, the Kubernetes stores.
 */
import type { KubeConfig } from '@kubernetes/client-node';

let loading: Promise<typeof KubeConfig> | undefined;

/** The `KubeConfig` class, loaded once. */
export function importKubeConfig(): Promise<typeof KubeConfig> {
  loading ??= (async () => {
    const { KubeConfig: Class } = (await import('@kubernetes/client-node/dist/config.js')) as { KubeConfig: typeof KubeConfig };
    return Class;
  })();
  return loading;
}
