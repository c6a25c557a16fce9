/**
 * Running the real `kubegate` command line as a user would (`bin/kubegate` in a child process, the
 * checkout's TypeScript through tsx), and writing the kubeconfigs and exec credential plugin a person has.
 * Shared by the client command tests; not a test file itself.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin', 'kubegate');
const ENV = '/usr/bin/env';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The environment a user would have: minus anything that feeds kubegate settings (KUBEGATE_*, the
 * in-cluster variables, KUBECONFIG), and minus tap's own NODE_OPTIONS / TAP* / _TAPJS_*. HOME points at
 * an empty directory so no real ~/.kube/config is ever read.
 */
export function cleanEnv(home: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (/^(KUBEGATE_|KUBERNETES_|TAP|_TAPJS_)/.test(name) || name === 'KUBECONFIG' || name === 'NODE_OPTIONS' || name === 'NODE_TLS_REJECT_UNAUTHORIZED') continue;
    env[name] = value;
  }
  return { ...env, HOME: home, ...extra };
}

/** Run `kubegate <args>` to completion. */
export function kubegate(args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return new Promise((resolve) => {
    // Through env(1): tap's process tracking puts its NODE_OPTIONS back into every child's environment;
    // `env -u` removes it right before node starts.
    const child = execFile(ENV, ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { cwd: REPO, env, timeout: 60_000 }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: unknown; signal?: NodeJS.Signals | null }) | null;
      const code = e ? (typeof e.code === 'number' ? e.code : null) : 0;
      resolve({ code, signal: e?.signal ?? null, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** Start `kubegate <args>` and hand back the child, for tests that act on it while it runs. */
export function startKubegate(args: string[], env: NodeJS.ProcessEnv): { child: ChildProcess; done: Promise<RunResult>; stderrSoFar(): string } {
  const child = spawn(ENV, ['-u', 'NODE_OPTIONS', process.execPath, BIN, ...args], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const done = new Promise<RunResult>((resolve) => child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
  return { child, done, stderrSoFar: () => stderr };
}

export interface KubeconfigContext {
  name: string;
  server: string;
  caFile?: string;
  insecure?: boolean;
  /** A static token, or an exec plugin (command + args). */
  token?: string;
  exec?: { command: string; args: string[] };
}

/** Write a kubeconfig with these contexts (each with its own cluster and user of the same name). */
export function writeKubeconfig(file: string, contexts: KubeconfigContext[], currentContext: string | undefined = contexts[0]?.name): string {
  const q = JSON.stringify;
  const lines = ['apiVersion: v1', 'kind: Config', 'clusters:'];
  for (const c of contexts) {
    const cluster = [`server: ${q(c.server)}`];
    if (c.caFile) cluster.push(`certificate-authority: ${q(c.caFile)}`);
    if (c.insecure) cluster.push('insecure-skip-tls-verify: true');
    lines.push(`- name: ${q(c.name)}`, `  cluster: {${cluster.join(', ')}}`);
  }
  lines.push('users:');
  for (const c of contexts) {
    lines.push(`- name: ${q(c.name)}`);
    if (c.exec) {
      lines.push('  user:', '    exec:', '      apiVersion: client.authentication.k8s.io/v1', `      command: ${q(c.exec.command)}`, `      args: ${q(c.exec.args)}`, '      interactiveMode: Never');
    } else {
      lines.push(`  user: {token: ${q(c.token ?? '')}}`);
    }
  }
  lines.push('contexts:');
  for (const c of contexts) lines.push(`- name: ${q(c.name)}`, `  context: {cluster: ${q(c.name)}, user: ${q(c.name)}}`);
  if (currentContext !== undefined) lines.push(`current-context: ${q(currentContext)}`);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

/**
 * An exec credential plugin (run with node): prints an ExecCredential with `token`, and appends the
 * KUBERNETES_EXEC_INFO it was given to `logFile`, one line per run. `fail` makes it exit 1 with a message.
 */
export function writeExecPlugin(file: string, opts: { token: string; logFile: string; fail?: string }): { command: string; args: string[] } {
  writeFileSync(
    file,
    [
      "import { appendFileSync } from 'node:fs';",
      `appendFileSync(${JSON.stringify(opts.logFile)}, (process.env.KUBERNETES_EXEC_INFO ?? '(unset)') + '\\n');`,
      opts.fail !== undefined
        ? `process.stderr.write(${JSON.stringify(opts.fail)}); process.exit(1);`
        : `process.stdout.write(JSON.stringify({ apiVersion: 'client.authentication.k8s.io/v1', kind: 'ExecCredential', status: { token: ${JSON.stringify(opts.token)} } }));`,
      '',
    ].join('\n'),
  );
  return { command: process.execPath, args: [file] };
}
