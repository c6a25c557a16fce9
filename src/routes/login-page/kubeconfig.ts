/**
 * The kubeconfig the sign-in page hands out: exactly what `kubegate kubeconfig` writes (one builder,
 * login/kubeconfig.ts, pure): a cluster (kubegate's public URL and, when configured, the CA of its serving
 * certificate, embedded), a user whose `exec` runs `kubegate login` (client.authentication.k8s.io/v1,
 * interactiveMode IfAvailable, provideClusterInfo false), a context, current. It holds no credential, so it
 * is built from settings alone and served without authentication.
 */
import YAML from 'yaml';
import { kubeconfigEntries, loginArgs as pluginArgs, type KubeconfigSpec } from '../../login/kubeconfig.js';
import type { KubeconfigSettings } from './settings.js';

function spec(k: KubeconfigSettings): KubeconfigSpec {
  return {
    server: k.server,
    certificateAuthority: k.certificateAuthority === undefined ? undefined : { data: k.certificateAuthority },
    clusterName: k.name,
    userName: k.name,
    contextName: k.name,
    execCommand: k.command,
    plugin: {
      issuer: k.issuerUrl,
      clientId: k.clientId,
      scopes: [...k.scopes],
      grant: k.grant,
      listenPort: k.listenPort,
      authParams: { ...k.authParams },
    },
  };
}

/** The exec plugin's arguments: `login --issuer … --client-id … [--scopes openid,…] …` then `extraArgs`. */
export function loginArgs(k: KubeconfigSettings): string[] {
  return [...pluginArgs(spec(k).plugin), ...k.extraArgs];
}

/** The kubeconfig as a plain object (what YAML serialises). */
export function kubeconfigObject(k: KubeconfigSettings): Record<string, unknown> {
  const { cluster, user, context } = kubeconfigEntries(spec(k));
  const named = user as { name: string; user: { exec: Record<string, unknown> } };
  const exec = { ...named.user.exec, args: loginArgs(k), installHint: `kubegate login signs you in for this cluster; install the kubegate CLI with:\n  ${k.installCommand}` };
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [cluster],
    users: [{ name: named.name, user: { ...named.user, exec } }],
    contexts: [context],
    'current-context': k.name,
    preferences: {},
  };
}

/** The kubeconfig as YAML, with a comment saying where it came from and that it holds no secret. */
export function kubeconfigYaml(k: KubeconfigSettings): string {
  const doc = new YAML.Document(kubeconfigObject(k));
  doc.commentBefore = [
    ` kubeconfig for kubegate at ${k.server}`,
    ' It holds no credential: kubectl runs `kubegate login` to get an ID token from',
    ` ${k.issuerUrl} (a browser opens the first time; tokens are cached and refreshed).`,
  ].join('\n');
  return doc.toString({ lineWidth: 0 });
}
