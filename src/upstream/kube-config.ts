/**
 * @kubernetes/client-node's `KubeConfig` (kubeconfig and in-cluster loading, credentials, TLS options)
 * without the package's generated API clients, which kubegate needs only on rare paths.
 *
 * `KubeConfig` lives in `@kubernetes/client-node/dist/config.js` (the package has no `exports` map, so the
 * deep import is allowed), but that module imports the generated-code barrel `./gen/index.js` for two names
 * used only by `makeApiClient`, and the barrel loads every generated API class and model: about 800 modules,
 * most of the package's ≈70 MB resident memory and ≈0.4 s of start-up. {@link importKubeConfig} installs a
 * module resolution hook that points that one import, from that one file, at a two-line module re-exporting
 * the two names from the generated files that define them (`gen/configuration.js`, `gen/servers.js`): the
 * objects are the very ones the barrel would give, `makeApiClient` works unchanged, and the API classes load
 * when a path imports them from the package (access reviews, TokenReview, the Kubernetes stores).
 *
 * If a future client-node imports more from the barrel, linking `config.js` fails at start-up with a
 * SyntaxError naming the missing export (test/upstream/kube-config.test.ts fails first). A process that
 * loaded the package's main entry before keeps that copy; the hook then changes nothing.
 *
 * Node 22.15+ runs the hook in the loading thread (`module.registerHooks`); Node 20 runs module hooks on a
 * hooks thread (`module.register`), which costs about 10 MB but still saves several times that. On Node 20
 * every module loaded after the hook is installed is also read on that thread and sent over, so the modules
 * config.js needs that stay clear of the barrel ({@link PRELOAD}) are imported first, without the hook.
 */
import module from 'node:module';
import type { KubeConfig } from '@kubernetes/client-node';

const CONFIG_MODULE = import.meta.resolve('@kubernetes/client-node/dist/config.js');
const BARREL = './gen/index.js';
/** What config.js imports from the barrel, from the modules that define it. */
const SLIM_BARREL = `data:text/javascript,${encodeURIComponent(
  `export { createConfiguration } from ${JSON.stringify(import.meta.resolve('@kubernetes/client-node/dist/gen/configuration.js'))};\n` +
    `export { ServerConfiguration } from ${JSON.stringify(import.meta.resolve('@kubernetes/client-node/dist/gen/servers.js'))};\n`,
)}`;

interface ResolveResult {
  url: string;
  shortCircuit?: boolean;
}
type ResolveContext = { parentURL?: string | undefined };
type SyncHooks = {
  registerHooks?: (hooks: { resolve: (specifier: string, context: ResolveContext, next: (s: string, c: ResolveContext) => ResolveResult) => ResolveResult }) => unknown;
};

/**
 * What config.js imports, bar the barrel: the slim barrel's two generated modules and client-node's
 * credential modules. Loading them before the hook is installed is an optimisation only (Node 20: about
 * 1.5 MB and some CPU less on the hooks thread); one that fails to load here is left to the real import,
 * which reports it.
 */
const PRELOAD = [SLIM_BARREL, ...['config_types', 'azure_auth', 'exec_auth', 'file_auth', 'gcp_auth', 'oidc_auth'].map((m) => import.meta.resolve(`@kubernetes/client-node/dist/${m}.js`))];

let loading: Promise<typeof KubeConfig> | undefined;

/** The `KubeConfig` class, loaded once without the generated API clients. */
export function importKubeConfig(): Promise<typeof KubeConfig> {
  loading ??= (async () => {
    await Promise.allSettled(PRELOAD.map((url) => import(url)));
    try {
      installSlimBarrel();
    } catch {
      // A runtime that refuses module hooks still loads KubeConfig, with the generated clients.
    }
    const { KubeConfig: Class } = (await import('@kubernetes/client-node/dist/config.js')) as { KubeConfig: typeof KubeConfig };
    return Class;
  })();
  return loading;
}

function installSlimBarrel(): void {
  const registerHooks = (module as unknown as SyncHooks).registerHooks;
  if (typeof registerHooks === 'function') {
    registerHooks({ resolve: (specifier, context, next) => (specifier === BARREL && context.parentURL === CONFIG_MODULE ? { url: SLIM_BARREL, shortCircuit: true } : next(specifier, context)) });
    return;
  }
  const hooks =
    `const CONFIG = ${JSON.stringify(CONFIG_MODULE)}, SLIM = ${JSON.stringify(SLIM_BARREL)};\n` +
    `export async function resolve(specifier, context, next) {\n` +
    `  if (specifier === ${JSON.stringify(BARREL)} && context.parentURL === CONFIG) return { url: SLIM, shortCircuit: true };\n` +
    `  return next(specifier, context);\n` +
    `}\n`;
  module.register(`data:text/javascript,${encodeURIComponent(hooks)}`);
}
