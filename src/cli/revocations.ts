/**
 * `kubegate revocations list [-o json]`, `get ID [-o json]`, `delete ID` (each with [--kubeconfig F]
 * [--context C]), and the client of kubegate's revocation API they and `kubegate revoke` share.
 *
 * Talks to the kubegate of the kubeconfig context, as the person logged in there (kubegate checks they
 * are in `revocation.admins`). Text from the server is made terminal-safe before it is printed.
 */
import type { Revocation, RevocationCreated, RevocationList, RevocationRequest } from '../revocation/types.js';
import { safeJson, safeLine, timeAndRelative } from './elevation-format.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, KubegateApiError, loadKubeconfig, request, type ClientSettings, type KubeconfigSelection } from './kubegate-api.js';
import { parseObjectCommand, type OutputFormat } from './usage.js';

export const REVOCATIONS_PATH = '/kubegate/v1/revocations';

/** kubegate's revocation API as seen by one administrator through one kubeconfig context. */
export interface RevocationClient {
  readonly url: string;
  create(request: RevocationRequest): Promise<RevocationCreated>;
  list(): Promise<RevocationList>;
  get(id: string): Promise<Revocation>;
  delete(id: string): Promise<Revocation>;
}

/** @throws KubegateApiError KUBECONFIG_INVALID (see loadKubeconfig). */
export function createRevocationClient(settings: ClientSettings = {}): RevocationClient {
  const loaded = loadKubeconfig(settings, settings.env ?? process.env);
  const timeoutMs = settings.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  const collection = `${loaded.server.href.replace(/\/+$/, '')}${REVOCATIONS_PATH}`;
  const item = (id: string) => `${collection}/${encodeURIComponent(id)}`;
  const call = <T>(method: 'GET' | 'POST' | 'DELETE', url: string, body: unknown, check: (v: unknown) => v is T, what: string) =>
    request(loaded, { method, url, body, timeoutMs, isCollection: url === collection, api: 'revocation' }).then((answer) => {
      if (!check(answer)) throw new KubegateApiError('API_BAD_RESPONSE', `${method} ${url} answered JSON that is not ${what}`, { url });
      return answer;
    });
  return {
    url: collection,
    create: (req) => call('POST', collection, req, isCreated, 'a created Revocation'),
    list: () => call('GET', collection, undefined, isList, 'a RevocationList'),
    get: (id) => call('GET', item(id), undefined, isRevocation, 'a Revocation'),
    delete: (id) => call('DELETE', item(id), undefined, isRevocation, 'a Revocation'),
  };
}

export type RevocationsAction = { verb: 'list' } | { verb: 'get' | 'delete'; id: string };

export interface RevocationsOptions {
  action: RevocationsAction;
  selection: KubeconfigSelection;
  output: OutputFormat;
}

/** @throws UsageError for a missing or unknown subcommand, a missing, extra or malformed ID, unknown flags. */
export function parseRevocationsArgs(argv: string[]): RevocationsOptions {
  return parseObjectCommand(argv, { verbs: ['get', 'delete'], noun: 'revocation', idPrefix: 'rev-', command: 'kubegate revocations' });
}

/** Who a revocation denies, as one word: `user:alice@example.com` or `group:contractors`. */
export function subject(r: Pick<Revocation, 'user' | 'group'>): string {
  return r.user !== undefined ? `user:${r.user}` : `group:${r.group ?? '?'}`;
}

const REASON_WIDTH = 50;

/** The list as a table: ID, SUBJECT, TOKENS, CREATED, BY, REASON, oldest first. */
export function renderTable(list: RevocationList, nowMs: number): string {
  const items = [...list.items].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  const rows = [
    ['ID', 'SUBJECT', 'TOKENS', 'CREATED', 'BY', 'REASON'],
    ...items.map((r) => {
      const reason = safeLine(r.reason);
      return [
        safeLine(r.id),
        safeLine(subject(r)),
        r.issuedBefore === undefined ? 'all' : `issued before ${safeLine(r.issuedBefore)}`,
        timeAndRelative(r.createdAt, nowMs),
        safeLine(r.createdBy),
        reason.length > REASON_WIDTH ? `${reason.slice(0, REASON_WIDTH - 1)}…` : reason,
      ];
    }),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

export function renderDetail(r: Revocation, nowMs: number): string {
  const fields: [string, string][] = [
    ['ID', safeLine(r.id)],
    ['Subject', safeLine(subject(r))],
    ['Tokens', r.issuedBefore === undefined ? 'all (denied outright)' : `issued before ${safeLine(r.issuedBefore)}`],
    ['Reason', safeLine(r.reason)],
    ['Created', timeAndRelative(r.createdAt, nowMs)],
    ['By', safeLine(r.createdBy)],
  ];
  return fields.map(([k, v]) => `${`${k}:`.padEnd(10)}${v}`).join('\n') + '\n';
}

export async function runRevocations(opts: RevocationsOptions, client: RevocationClient, io: { out(s: string): void; err(s: string): void }, nowMs: number): Promise<number> {
  const { action, output } = opts;
  if (action.verb === 'list') {
    const list = await client.list();
    if (output === 'json') io.out(safeJson(list));
    else if (list.items.length === 0) io.err('No revocations.\n');
    else io.out(renderTable(list, nowMs));
    return 0;
  }
  const r = await client[action.verb](action.id);
  if (output === 'json') io.out(safeJson(r));
  else if (action.verb === 'get') io.out(renderDetail(r, nowMs));
  else io.out(`deleted revocation ${safeLine(r.id)} (${safeLine(subject(r))}): their next request is accepted again\n`);
  return 0;
}

/** `kubegate revocations ...`: exit 0 done, 1 refused/failed, 2 usage. */
export async function revocationsCommand(argv: string[]): Promise<number> {
  const opts = parseRevocationsArgs(argv);
  const client = createRevocationClient(opts.selection);
  return runRevocations(opts, client, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, Date.now());
}

const OPTIONAL = ['user', 'group', 'issuedBefore', 'resourceVersion'] as const;

function isRevocation(v: unknown): v is Revocation {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return ['id', 'reason', 'createdBy', 'createdAt'].every((k) => typeof r[k] === 'string') && OPTIONAL.every((k) => r[k] === undefined || typeof r[k] === 'string') && (typeof r.user === 'string') !== (typeof r.group === 'string');
}

function isList(v: unknown): v is RevocationList {
  return typeof v === 'object' && v !== null && Array.isArray((v as { items?: unknown }).items) && (v as { items: unknown[] }).items.every(isRevocation);
}

function isCreated(v: unknown): v is RevocationCreated {
  if (typeof v !== 'object' || v === null) return false;
  const c = v as Record<string, unknown>;
  return isRevocation(c.revocation) && Array.isArray(c.endedElevations) && c.endedElevations.every((id) => typeof id === 'string');
}
