/**
 * The kubeconfig a person uses with kubegate: a cluster pointing at kubegate with its CA, a user whose
 * `exec` runs `kubegate login …` (the client.authentication.k8s.io/v1 exec credential plugin), and a
 * context joining them. Written as a new file, or merged into an existing kubeconfig: entries with the
 * same names are replaced, everything else (other entries, comments, preferences) is left as it was.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';
import { LoginError } from './errors.js';
import { EXEC_API_VERSION } from './exec-credential.js';
import { normalizeScopes, type Grant } from './options.js';

/** The `kubegate login` settings carried in the user's `exec.args`. */
export interface PluginSettings {
  issuer: string;
  clientId: string;
  clientSecret?: string | undefined;
  /** Extra scopes (`openid` is always requested). */
  scopes: string[];
  /** CA bundle file of the issuer (absolute). */
  caFile?: string | undefined;
  grant?: Grant | undefined;
  listenPort?: number | undefined;
  authParams?: Record<string, string> | undefined;
}

export interface KubeconfigSpec {
  /** kubegate's URL (https). */
  server: string;
  /** kubegate's CA bundle file (absolute), or its PEM text to embed as certificate-authority-data. */
  certificateAuthority?: { file: string } | { data: string } | undefined;
  clusterName: string;
  userName: string;
  contextName: string;
  namespace?: string | undefined;
  /** The command kubectl runs (default `kubegate`, found on PATH). */
  execCommand: string;
  plugin: PluginSettings;
}

export const INSTALL_HINT = [
  'This kubeconfig signs you in with kubegate (`kubegate login`), which was not found.',
  'Install the kubegate command line tool and put `kubegate` on your PATH; your cluster',
  'administrator can tell you where to get it.',
].join('\n');

/** Default names for a kubegate at `server`: its host (and port), and `<host>-oidc` for the user. */
export function defaultNames(server: string): { clusterName: string; userName: string; contextName: string } {
  const host = new URL(server).host;
  return { clusterName: host, userName: `${host}-oidc`, contextName: host };
}

/** `login` and the flags that reproduce `settings` (what `kubegate login` parses back). */
export function loginArgs(settings: PluginSettings): string[] {
  const args = ['login', '--issuer', settings.issuer, '--client-id', settings.clientId];
  const scopes = normalizeScopes(settings.scopes);
  if (scopes.length > 1) args.push('--scopes', scopes.join(','));
  if (settings.caFile) args.push('--certificate-authority', settings.caFile);
  if (settings.grant && settings.grant !== 'code') args.push('--grant', settings.grant);
  if (settings.listenPort) args.push('--listen-port', String(settings.listenPort));
  if (settings.clientSecret !== undefined) args.push('--client-secret', settings.clientSecret);
  for (const [k, v] of Object.entries(settings.authParams ?? {})) args.push('--auth-param', `${k}=${v}`);
  return args;
}

/** The three named entries, as kubeconfig objects. */
export function kubeconfigEntries(spec: KubeconfigSpec): { cluster: object; user: object; context: object } {
  const ca = spec.certificateAuthority;
  return {
    cluster: {
      name: spec.clusterName,
      cluster: {
        server: spec.server,
        ...(ca && 'file' in ca ? { 'certificate-authority': ca.file } : {}),
        ...(ca && 'data' in ca ? { 'certificate-authority-data': Buffer.from(ca.data).toString('base64') } : {}),
      },
    },
    user: {
      name: spec.userName,
      user: {
        exec: {
          apiVersion: EXEC_API_VERSION,
          command: spec.execCommand,
          args: loginArgs(spec.plugin),
          env: null,
          interactiveMode: 'IfAvailable',
          provideClusterInfo: false,
          installHint: INSTALL_HINT,
        },
      },
    },
    context: {
      name: spec.contextName,
      context: { cluster: spec.clusterName, user: spec.userName, ...(spec.namespace ? { namespace: spec.namespace } : {}) },
    },
  };
}

/**
 * `existing` (a kubeconfig's text; empty or undefined for a new one) with the entries of `spec` added or
 * replaced by name, and `current-context` set to the new context.
 * @throws LoginError KUBECONFIG_INVALID when `existing` is not YAML or not a kubeconfig-shaped mapping.
 */
export function mergeKubeconfig(existing: string | undefined, spec: KubeconfigSpec, source = 'the kubeconfig'): string {
  const doc = existing?.trim()
    ? YAML.parseDocument(existing)
    : new YAML.Document({ apiVersion: 'v1', kind: 'Config', preferences: {}, clusters: [], users: [], contexts: [] });
  if (doc.errors.length) throw new LoginError('KUBECONFIG_INVALID', `${source} is not valid YAML: ${doc.errors[0]!.message}`);
  if (doc.contents === null) doc.contents = doc.createNode({ apiVersion: 'v1', kind: 'Config' });
  if (!YAML.isMap(doc.contents)) throw new LoginError('KUBECONFIG_INVALID', `${source} is not a kubeconfig (its top level is not a mapping)`);
  if (!doc.has('apiVersion')) doc.set('apiVersion', 'v1');
  if (!doc.has('kind')) doc.set('kind', 'Config');
  const entries = kubeconfigEntries(spec);
  for (const [key, entry, name] of [
    ['clusters', entries.cluster, spec.clusterName],
    ['users', entries.user, spec.userName],
    ['contexts', entries.context, spec.contextName],
  ] as const) {
    let seq = doc.get(key, true);
    if (seq === undefined || seq === null || (YAML.isScalar(seq) && seq.value === null)) {
      doc.set(key, doc.createNode([]));
      seq = doc.get(key, true);
    }
    if (!YAML.isSeq(seq)) throw new LoginError('KUBECONFIG_INVALID', `${source}: "${key}" is not a list`);
    const node = doc.createNode(entry);
    const at = seq.items.findIndex((item) => YAML.isMap(item) && item.get('name') === name);
    if (at >= 0) seq.items[at] = node;
    else seq.items.push(node);
  }
  doc.set('current-context', spec.contextName);
  return doc.toString({ lineWidth: 0 });
}

/**
 * The file `--merge` writes to, as kubectl picks one for a new entry: `--kubeconfig FILE`; else from the
 * KUBECONFIG list the only file, or the first that exists, or the last; else `~/.kube/config`.
 */
export function mergeTarget(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env, home: string = os.homedir()): string {
  if (explicit) return path.resolve(explicit);
  const list = (env.KUBECONFIG ?? '').split(path.delimiter).filter(Boolean);
  if (list.length === 1) return path.resolve(list[0]!);
  if (list.length > 1) return path.resolve(list.find((f) => fs.existsSync(f)) ?? list[list.length - 1]!);
  return path.join(env.HOME || home, '.kube', 'config');
}

/**
 * Merge `spec` into the kubeconfig at `file` (created if missing), following a symlink to the real file,
 * keeping its permissions (0600 for a new file), and replacing it atomically.
 * @throws LoginError KUBECONFIG_INVALID when it cannot be read, parsed or written.
 */
export function mergeIntoFile(file: string, spec: KubeconfigSpec): void {
  let real = file;
  let existing: string | undefined;
  let mode = 0o600;
  try {
    real = fs.realpathSync(file);
    existing = fs.readFileSync(real, 'utf8');
    mode = fs.statSync(real).mode & 0o777;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new LoginError('KUBECONFIG_INVALID', `cannot read ${file}: ${(err as Error).message}`, { cause: err });
  }
  writeFileAtomically(real, mergeKubeconfig(existing, spec, file), mode);
}

/**
 * Write a new kubeconfig with only `spec`'s entries to `file` (0600).
 * @throws LoginError KUBECONFIG_INVALID when `file` exists (merging is --merge's job) or cannot be written.
 */
export function writeNewFile(file: string, spec: KubeconfigSpec): void {
  if (fs.existsSync(file)) throw new LoginError('KUBECONFIG_INVALID', `${file} exists: use --merge --kubeconfig ${file} to add to it, or choose another --output`);
  writeFileAtomically(path.resolve(file), mergeKubeconfig(undefined, spec), 0o600);
}

function writeFileAtomically(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
    fs.writeFileSync(tmp, text, { mode, flag: 'wx' });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw new LoginError('KUBECONFIG_INVALID', `cannot write ${file}: ${(err as Error).message}`, { cause: err });
  }
}
