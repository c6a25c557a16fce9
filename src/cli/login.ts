/**
 * `kubegate login --issuer URL --client-id ID [--client-secret S] [--scopes a,b] [--certificate-authority FILE]
 *  [--listen-port N] [--grant code|device] [--auth-param k=v ...] [--force] [--cache-dir DIR]`
 *
 * A kubectl exec credential plugin: prints exactly one client.authentication.k8s.io/v1 ExecCredential
 * (the ID token and its expiry) on stdout and nothing else; progress, the sign-in URL and the device code
 * go to stderr. Reads KUBERNETES_EXEC_INFO: when kubectl says the run is not interactive, it never opens
 * a browser and fails with the command to run instead. See src/login/login.ts for the order of cache,
 * refresh and sign-in.
 */
import fs from 'node:fs';
import path from 'node:path';
import { systemBrowser } from '../login/browser.js';
import { defaultCacheDir } from '../login/cache.js';
import { execCredential, readExecInfo } from '../login/exec-credential.js';
import { login } from '../login/login.js';
import { normalizeScopes, type Grant, type LoginOptions } from '../login/options.js';
import { parseFlags, UsageError } from './usage.js';

/** The flags shared by `login` and (as what it writes into exec.args) `kubeconfig`. */
export const LOGIN_FLAGS = {
  issuer: { type: 'string' },
  'client-id': { type: 'string' },
  'client-secret': { type: 'string' },
  scopes: { type: 'string', multiple: true },
  'listen-port': { type: 'string' },
  grant: { type: 'string' },
  'auth-param': { type: 'string', multiple: true },
} as const;

/** Parameters the flow sets itself; `--auth-param` may not override them. */
const RESERVED_AUTH_PARAMS = new Set(['client_id', 'redirect_uri', 'response_type', 'scope', 'state', 'nonce', 'code_challenge', 'code_challenge_method']);

/** The shared flags' values, checked. @throws UsageError naming the flag. */
export function parseLoginSettings(values: {
  issuer?: string | undefined;
  'client-id'?: string | undefined;
  'client-secret'?: string | undefined;
  scopes?: string[] | undefined;
  'listen-port'?: string | undefined;
  grant?: string | undefined;
  'auth-param'?: string[] | undefined;
}): Pick<LoginOptions, 'issuer' | 'clientId' | 'clientSecret' | 'scopes' | 'listenPort' | 'grant' | 'authParams'> {
  if (!values.issuer) throw new UsageError('--issuer is required: the OpenID Connect issuer URL (https)');
  let issuer: URL;
  try {
    issuer = new URL(values.issuer);
  } catch {
    throw new UsageError(`--issuer must be an https URL, got ${JSON.stringify(values.issuer)}`);
  }
  if (issuer.protocol !== 'https:') throw new UsageError(`--issuer must be an https URL, got ${JSON.stringify(values.issuer)}`);
  if (!values['client-id']) throw new UsageError('--client-id is required: the client id registered at the identity provider');
  const listenPort = values['listen-port'] === undefined ? 0 : Number(values['listen-port']);
  if (!Number.isInteger(listenPort) || listenPort < 0 || listenPort > 65535) throw new UsageError(`--listen-port must be a port number from 0 (any free port) to 65535, got ${JSON.stringify(values['listen-port'])}`);
  const grant = (values.grant ?? 'code') as Grant;
  if (grant !== 'code' && grant !== 'device') throw new UsageError(`--grant must be code or device, got ${JSON.stringify(values.grant)}`);
  const authParams: Record<string, string> = {};
  for (const pair of values['auth-param'] ?? []) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? '' : pair.slice(0, eq);
    if (key === '') throw new UsageError(`--auth-param must be KEY=VALUE, got ${JSON.stringify(pair)}`);
    if (RESERVED_AUTH_PARAMS.has(key)) throw new UsageError(`--auth-param may not set ${key}: kubegate login sets it`);
    authParams[key] = pair.slice(eq + 1);
  }
  return {
    issuer: values.issuer,
    clientId: values['client-id'],
    clientSecret: values['client-secret'],
    scopes: normalizeScopes((values.scopes ?? []).flatMap((s) => s.split(','))),
    listenPort,
    grant,
    authParams,
  };
}

/** The command line as {@link LoginOptions}. @throws UsageError. */
export function parseLoginArgs(argv: string[]): LoginOptions {
  const { values } = parseFlags(
    argv,
    { ...LOGIN_FLAGS, 'certificate-authority': { type: 'string' }, force: { type: 'boolean' }, 'cache-dir': { type: 'string' } },
    false,
  );
  return {
    ...parseLoginSettings(values),
    caFile: values['certificate-authority'] === undefined ? undefined : path.resolve(values['certificate-authority']),
    force: values.force === true,
    cacheDir: values['cache-dir'] === undefined ? undefined : path.resolve(values['cache-dir']),
  };
}

/** `kubegate login`: prints the ExecCredential; returns the exit code. Errors are printed by main.ts. */
export async function loginCommand(argv: string[]): Promise<number> {
  const opts = parseLoginArgs(argv);
  const info = readExecInfo(process.env);
  let ca: string | undefined;
  if (opts.caFile !== undefined) {
    try {
      ca = fs.readFileSync(opts.caFile, 'utf8');
    } catch (err) {
      throw new UsageError(`--certificate-authority ${opts.caFile}: ${(err as Error).message}`);
    }
  }
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await login(opts, {
      now: Date.now,
      interactive: info.interactive,
      progress: (line) => process.stderr.write(`${line}\n`),
      openBrowser: systemBrowser(),
      defaultCacheDir: defaultCacheDir(),
      ca,
      loginCommand: ['kubegate', 'login', ...argv].map(shellQuote).join(' '),
      signal: abort.signal,
    });
    process.stdout.write(`${JSON.stringify(execCredential(result.idToken, result.expiresAt, info.apiVersion))}\n`);
    return 0;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

/** A word as a POSIX shell reads it back. */
export function shellQuote(word: string): string {
  return /^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
