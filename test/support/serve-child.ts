/**
 * `kubegate serve` as an operator runs it: bin/kubegate in a child process, in front of the recording fake
 * API server, with the test OIDC provider, and its operational log (stderr) read as it arrives so a test
 * can wait for a line instead of sleeping. Shared by the serve-* tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver.js';
import { kubeconfigYaml, SA_TOKEN } from './harness.js';
import { startTestIssuer, type TestIssuer } from './oidc-issuer.js';
import { createPki, type CertPair, type TestPki } from './pki.js';
import { within } from './wait.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

type Teardown = { teardown(fn: () => unknown): void };

export interface ServeWorld {
  pki: TestPki;
  issuer: TestIssuer;
  fake: FakeApiServer;
  /** Kubeconfig for the fake, with kubegate's own credential. */
  kubeconfig: string;
  /** A serving pair for kubegate. */
  serving: CertPair;
  /** The flags every test passes: loopback, random ports, the issuer, the upstream. */
  baseFlags: string[];
}

/** PKI, issuer and fake API server, closed by the test's teardown. */
export async function serveWorld(t: Teardown): Promise<ServeWorld> {
  const pki = createPki();
  const issuer = await startTestIssuer({ pki });
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN });
  t.teardown(async () => {
    await fake.close();
    await issuer.close();
    pki.cleanup();
  });
  const kubeconfig = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(kubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const serving = pki.server();
  const baseFlags = ['--bind-address', '127.0.0.1', '--secure-port', '0', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
    '--oidc-issuer-url', issuer.issuer, '--oidc-client-id', issuer.clientId, '--oidc-ca-file', issuer.caFile, '--oidc-username-claim', 'email', '--kubeconfig', kubeconfig];
  return { pki, issuer, fake, kubeconfig, serving, baseFlags };
}

export interface ServeChild {
  child: ChildProcess;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
  /** Everything logged so far. */
  log(): string;
  /** Resolves with the `count`-th log line matching `pattern` (waits for it; fails after 60 s: a cap against a hang, wide enough for a loaded machine where starting two workers through tsx has taken over 20 s). */
  logged(pattern: RegExp, what: string, count?: number): Promise<string>;
}

/** `kubegate serve <args>` in a child, killed by the test's teardown if still running. */
export function spawnServe(t: Teardown, args: string[]): ServeChild {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(KUBEGATE_|TAP|_TAPJS_|NODE_OPTIONS$)/.test(k)));
  // env -u: tap re-adds its NODE_OPTIONS coverage hook to children, which cannot load the ESM bin file.
  const child = spawn('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, join(REPO, 'bin/kubegate'), 'serve', ...args], { cwd: REPO, env, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let log = '';
  const waiters = new Set<() => void>();
  child.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
    for (const w of [...waiters]) w();
  });
  return {
    child,
    exited,
    log: () => log,
    logged(pattern, what, count = 1) {
      return within(
        new Promise<string>((resolve) => {
          const check = () => {
            const lines = log.split('\n').filter((l) => pattern.test(l));
            if (lines.length >= count) {
              waiters.delete(check);
              resolve(lines[count - 1]!);
            }
          };
          waiters.add(check);
          check();
        }),
        60_000,
        // Read when the wait gives up: the log as it is then (at the start of the wait it is often empty).
        () => `${what} (log so far: ${log.slice(-1500) || '(nothing)'})`,
      );
    },
  };
}
