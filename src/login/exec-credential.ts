/**
 * The kubectl exec credential plugin protocol (client.authentication.k8s.io): what kubectl tells the plugin
 * in `KUBERNETES_EXEC_INFO`, and the one `ExecCredential` the plugin prints on stdout.
 * See https://kubernetes.io/docs/reference/access-authn-authz/authentication/#client-go-credential-plugins
 */
import { LoginError } from './errors.js';

export const EXEC_API_VERSION = 'client.authentication.k8s.io/v1';
const KNOWN_API_VERSIONS = new Set([EXEC_API_VERSION, 'client.authentication.k8s.io/v1beta1']);

/** What kubectl said about this run. */
export interface ExecInfo {
  /** The apiVersion to answer with. */
  apiVersion: string;
  /** false: kubectl gave the plugin no terminal; the plugin must not wait for a person (no browser). */
  interactive: boolean;
  /** Whether kubectl ran the plugin at all (KUBERNETES_EXEC_INFO set) or a person ran it directly. */
  fromKubectl: boolean;
}

export interface ExecCredential {
  apiVersion: string;
  kind: 'ExecCredential';
  status: { token: string; expirationTimestamp: string };
}

/**
 * Read `KUBERNETES_EXEC_INFO`. Unset means a person (or a script) ran `kubegate login` directly: it may
 * sign in (open the browser or print the URL) and answers with v1.
 * @throws LoginError EXEC_INFO_INVALID when the variable is set but is not an ExecCredential object.
 */
export function readExecInfo(env: NodeJS.ProcessEnv): ExecInfo {
  const raw = env.KUBERNETES_EXEC_INFO;
  if (raw === undefined || raw === '') return { apiVersion: EXEC_API_VERSION, interactive: true, fromKubectl: false };
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    throw new LoginError('EXEC_INFO_INVALID', 'KUBERNETES_EXEC_INFO is not JSON; it is set by kubectl for exec credential plugins', { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || (parsed as { kind?: unknown }).kind !== 'ExecCredential') {
    throw new LoginError('EXEC_INFO_INVALID', 'KUBERNETES_EXEC_INFO is not an ExecCredential object');
  }
  const { apiVersion, spec } = parsed as { apiVersion?: unknown; spec?: { interactive?: unknown } };
  return {
    apiVersion: typeof apiVersion === 'string' && KNOWN_API_VERSIONS.has(apiVersion) ? apiVersion : EXEC_API_VERSION,
    // kubectl always sends spec.interactive; anything but an explicit true means "no person there".
    interactive: spec?.interactive === true,
    fromKubectl: true,
  };
}

/**
 * The ExecCredential for an ID token valid until `expiresAt` (epoch seconds, already no later than the
 * token's `exp`). The timestamp is RFC 3339 in UTC without fractions.
 */
export function execCredential(token: string, expiresAt: number, apiVersion: string = EXEC_API_VERSION): ExecCredential {
  return {
    apiVersion,
    kind: 'ExecCredential',
    status: { token, expirationTimestamp: new Date(Math.floor(expiresAt) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}
