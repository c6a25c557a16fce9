/**
 * `kubegate kubeconfig --server URL [--certificate-authority FILE [--embed-certs]] --issuer URL --client-id ID
 *  [--scopes a,b] [--issuer-certificate-authority FILE] [--client-secret S] [--grant code|device]
 *  [--listen-port N] [--auth-param k=v ...] [--cluster-name N] [--user-name N] [--context-name N]
 *  [--namespace NS] [--exec-command CMD] [--output FILE | --merge [--kubeconfig FILE]]`
 *
 * Writes a kubeconfig whose user runs `kubegate login` as its exec credential plugin: on stdout by
 * default, to a new file with --output, or merged into an existing kubeconfig with --merge (the file
 * kubectl would pick: --kubeconfig, else KUBECONFIG, else ~/.kube/config), replacing only entries of the
 * same names and switching current-context to the new context.
 */
import fs from 'node:fs';
import path from 'node:path';
import { defaultNames, mergeIntoFile, mergeKubeconfig, mergeTarget, writeNewFile, type KubeconfigSpec } from '../login/kubeconfig.js';
import { LOGIN_FLAGS, parseLoginSettings } from './login.js';
import { parseFlags, UsageError } from './usage.js';

export interface KubeconfigOptions {
  spec: KubeconfigSpec;
  /** Where to write. */
  target: { kind: 'stdout' } | { kind: 'file'; file: string } | { kind: 'merge'; file: string };
}

/** @throws UsageError naming the flag. */
export function parseKubeconfigArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): KubeconfigOptions {
  const { values } = parseFlags(
    argv,
    {
      ...LOGIN_FLAGS,
      server: { type: 'string' },
      'certificate-authority': { type: 'string' },
      'embed-certs': { type: 'boolean' },
      'issuer-certificate-authority': { type: 'string' },
      'cluster-name': { type: 'string' },
      'user-name': { type: 'string' },
      'context-name': { type: 'string' },
      namespace: { type: 'string' },
      'exec-command': { type: 'string' },
      output: { type: 'string' },
      merge: { type: 'boolean' },
      kubeconfig: { type: 'string' },
    },
    false,
  );
  if (!values.server) throw new UsageError("--server is required: kubegate's URL, like https://kubegate.example.com");
  let server: URL;
  try {
    server = new URL(values.server);
  } catch {
    throw new UsageError(`--server must be an https URL, got ${JSON.stringify(values.server)}`);
  }
  if (server.protocol !== 'https:') throw new UsageError(`--server must be an https URL, got ${JSON.stringify(values.server)}`);
  const settings = parseLoginSettings(values);
  if (values.output !== undefined && values.merge) throw new UsageError('--output and --merge exclude each other');
  if (values.kubeconfig !== undefined && !values.merge) throw new UsageError('--kubeconfig is the file --merge writes to: give --merge too');
  if (values['embed-certs'] && values['certificate-authority'] === undefined) throw new UsageError('--embed-certs needs --certificate-authority');

  let certificateAuthority: KubeconfigSpec['certificateAuthority'];
  if (values['certificate-authority'] !== undefined) {
    const file = path.resolve(values['certificate-authority']);
    let pem: string;
    try {
      pem = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new UsageError(`--certificate-authority ${file}: ${(err as Error).message}`);
    }
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new UsageError(`--certificate-authority ${file} holds no PEM certificate`);
    certificateAuthority = values['embed-certs'] ? { data: pem } : { file };
  }
  const issuerCa = values['issuer-certificate-authority'] === undefined ? undefined : path.resolve(values['issuer-certificate-authority']);
  if (issuerCa !== undefined && !fs.existsSync(issuerCa)) throw new UsageError(`--issuer-certificate-authority ${issuerCa} does not exist`);

  const names = defaultNames(values.server);
  const spec: KubeconfigSpec = {
    server: values.server,
    certificateAuthority,
    clusterName: values['cluster-name'] ?? names.clusterName,
    userName: values['user-name'] ?? names.userName,
    contextName: values['context-name'] ?? names.contextName,
    namespace: values.namespace,
    execCommand: values['exec-command'] ?? 'kubegate',
    plugin: { ...settings, caFile: issuerCa },
  };
  for (const [flag, name] of [['--cluster-name', spec.clusterName], ['--user-name', spec.userName], ['--context-name', spec.contextName], ['--exec-command', spec.execCommand]] as const) {
    if (name.trim() === '') throw new UsageError(`${flag} must not be empty`);
  }
  const target: KubeconfigOptions['target'] = values.merge
    ? { kind: 'merge', file: mergeTarget(values.kubeconfig, env) }
    : values.output !== undefined
      ? { kind: 'file', file: path.resolve(values.output) }
      : { kind: 'stdout' };
  return { spec, target };
}

export async function kubeconfigCommand(argv: string[]): Promise<number> {
  const { spec, target } = parseKubeconfigArgs(argv);
  switch (target.kind) {
    case 'stdout':
      process.stdout.write(mergeKubeconfig(undefined, spec));
      break;
    case 'file':
      writeNewFile(target.file, spec);
      process.stderr.write(`Wrote ${target.file} (context ${spec.contextName}). Try: kubectl --kubeconfig ${target.file} get pods\n`);
      break;
    case 'merge':
      mergeIntoFile(target.file, spec);
      process.stderr.write(`Merged cluster ${spec.clusterName}, user ${spec.userName} and context ${spec.contextName} into ${target.file}; current context is now ${spec.contextName}. Try: kubectl get pods\n`);
      break;
  }
  return 0;
}
