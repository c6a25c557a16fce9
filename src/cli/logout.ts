/**
 * `kubegate logout [--issuer URL [--client-id ID [--scopes a,b]]] [--cache-dir DIR]`
 *
 * Removes cached logins of `kubegate login`: every one without flags; with --issuer only that issuer's
 * (narrowed by --client-id, and by --scopes to the one entry). The next `kubegate login` (or kubectl
 * command) signs in again. Tokens are not revoked at the identity provider.
 */
import path from 'node:path';
import { defaultCacheDir, openTokenCache } from '../login/cache.js';
import { cacheIdentity } from '../login/options.js';
import { parseFlags, UsageError } from './usage.js';

export interface LogoutOptions {
  cacheDir: string;
  issuer?: string | undefined;
  clientId?: string | undefined;
  /** Sorted, openid included (as in the cache), when --scopes was given. */
  scopes?: string[] | undefined;
}

/** @throws UsageError for --client-id without --issuer, or --scopes without --client-id. */
export function parseLogoutArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): LogoutOptions {
  const { values } = parseFlags(
    argv,
    { issuer: { type: 'string' }, 'client-id': { type: 'string' }, scopes: { type: 'string', multiple: true }, 'cache-dir': { type: 'string' } },
    false,
  );
  if (values['client-id'] !== undefined && values.issuer === undefined) throw new UsageError('--client-id needs --issuer');
  if (values.scopes !== undefined && values['client-id'] === undefined) throw new UsageError('--scopes needs --issuer and --client-id');
  return {
    cacheDir: values['cache-dir'] === undefined ? defaultCacheDir(env) : path.resolve(values['cache-dir']),
    issuer: values.issuer,
    clientId: values['client-id'],
    scopes: values.scopes === undefined || values.issuer === undefined || values['client-id'] === undefined
      ? undefined
      : cacheIdentity({ issuer: values.issuer, clientId: values['client-id'], scopes: values.scopes.flatMap((s) => s.split(',')) }).scopes,
  };
}

export async function logoutCommand(argv: string[]): Promise<number> {
  const opts = parseLogoutArgs(argv);
  const cache = openTokenCache(opts.cacheDir);
  const removed = cache.remove(opts.issuer === undefined ? undefined : (entry) =>
    entry.issuer === opts.issuer
    && (opts.clientId === undefined || entry.clientId === opts.clientId)
    && (opts.scopes === undefined || entry.scopes.join(' ') === opts.scopes.join(' ')));
  process.stdout.write(`Removed ${removed} cached login${removed === 1 ? '' : 's'} from ${cache.dir}.\n`);
  return 0;
}
