/**
 * A "world" for login tests: a real OIDC provider on loopback with interactive sign-in (oidc-provider's
 * dev interactions, refresh tokens, optionally the device flow), an empty home directory, and a `$BROWSER`
 * script that runs the test browser (browser-cli.ts) as the account `alice`. Not a test file itself.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cleanEnv } from '../../cli/cli-harness.js';
import { startTestIssuer, type InteractiveIssuerOptions, type TestIssuer } from '../../support/oidc-issuer.js';
import type { TestPki } from '../../support/pki.js';

export const ACCOUNTS: Record<string, Record<string, unknown>> = {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['developers', 'on-call'], name: 'Alice' },
  bob: { email: 'bob@example.com', email_verified: true, groups: ['developers'], name: 'Bob' },
};

const BROWSER_CLI = fileURLToPath(new URL('./browser-cli.ts', import.meta.url));
const TSX_LOADER = import.meta.resolve('tsx');

export interface BrowserRun {
  pid: number;
  url: string;
  steps?: { method: string; path: string; status: number; form?: string }[];
  status?: number;
  error?: string;
}

export interface LoginWorld {
  issuer: TestIssuer;
  ca: string;
  /** The person's home directory (empty at start; HOME for child processes). */
  home: string;
  /** XDG_CACHE_HOME/kubegate: where the plugin caches. */
  cacheDir: string;
  browserScript: string;
  /** The environment a person's shell would give `kubegate login`, with the test browser as $BROWSER. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  /** `login --issuer … --client-id kubegate --certificate-authority …` plus `extra`. */
  loginArgs(...extra: string[]): string[];
  /** What the test browser did so far, one entry per run. */
  browserRuns(): BrowserRun[];
  close(): Promise<void>;
}

export async function startLoginWorld(opts: { deviceFlow?: boolean; idTokenTtlSeconds?: number; pki?: TestPki; interactive?: Partial<InteractiveIssuerOptions> } = {}): Promise<LoginWorld> {
  const issuer = await startTestIssuer({
    ...(opts.pki ? { pki: opts.pki } : {}),
    ...(opts.idTokenTtlSeconds ? { idTokenTtlSeconds: opts.idTokenTtlSeconds } : {}),
    interactive: { accounts: ACCOUNTS, deviceFlow: opts.deviceFlow ?? false, ...opts.interactive },
  });
  const home = mkdtempSync(join(tmpdir(), 'kubegate-login-home-'));
  const browserLog = join(home, '..', `${home.split('/').pop()}-browser.log`);
  const browserScript = join(home, '..', `${home.split('/').pop()}-browser.sh`);
  writeFileSync(browserScript, `#!/bin/sh\nexec /usr/bin/env -u NODE_OPTIONS ${JSON.stringify(process.execPath)} --import ${JSON.stringify(TSX_LOADER)} ${JSON.stringify(BROWSER_CLI)} "$@"\n`);
  chmodSync(browserScript, 0o755);
  const cacheHome = join(home, '.cache');
  return {
    issuer,
    ca: readFileSync(issuer.caFile, 'utf8'),
    home,
    cacheDir: join(cacheHome, 'kubegate'),
    browserScript,
    env: (extra = {}) => cleanEnv(home, { XDG_CACHE_HOME: cacheHome, BROWSER: browserScript, TEST_BROWSER_CA_FILE: issuer.caFile, TEST_BROWSER_LOGIN: 'alice', TEST_BROWSER_LOG: browserLog, ...extra }),
    loginArgs: (...extra) => ['login', '--issuer', issuer.issuer, '--client-id', issuer.clientId, '--certificate-authority', issuer.caFile, ...extra],
    browserRuns: () => (existsSync(browserLog) ? readFileSync(browserLog, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as BrowserRun) : []),
    async close() {
      await issuer.close();
      rmSync(home, { recursive: true, force: true });
      rmSync(browserLog, { force: true });
      rmSync(browserScript, { force: true });
    },
  };
}

/** The one ExecCredential on `stdout`; throws unless stdout is exactly one JSON document (and a newline). */
export function parseExecCredential(stdout: string): { apiVersion: string; kind: string; status: { token: string; expirationTimestamp: string }; [k: string]: unknown } {
  if (!stdout.endsWith('\n') || stdout.slice(0, -1).includes('\n')) throw new Error(`stdout is not one line: ${JSON.stringify(stdout.slice(0, 200))}`);
  return JSON.parse(stdout) as ReturnType<typeof parseExecCredential>;
}

/** The claims of a JWT (not verified; the tests verify separately where it matters). */
export function claimsOf(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<string, unknown>;
}
