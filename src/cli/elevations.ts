/**
 * `kubegate elevations list [-o json]`, `get ID [-o json]`, `approve ID`, `revoke ID`
 * (each with [--kubeconfig F] [--context C]).
 *
 * Reads and decides elevations through the elevation API of the kubeconfig context's kubegate: `list` is
 * the caller's own (everyone's for approvers) as a table, `approve` makes someone else's pending request
 * Active, `revoke` ends one now. Text from the server is made terminal-safe before it is printed.
 */
import type { Elevation, ElevationList } from '../elevation/types.js';
import type { ElevationClient, KubeconfigSelection } from './kubegate-api.js';
import { formatDuration, holdsUntil, safeJson, safeLine, time, timeAndRelative } from './elevation-format.js';
import { parseObjectCommand, type OutputFormat } from './usage.js';

export type ElevationsAction = { verb: 'list' } | { verb: 'get' | 'approve' | 'revoke'; id: string };

export interface ElevationsOptions {
  action: ElevationsAction;
  selection: KubeconfigSelection;
  output: OutputFormat;
}

/**
 * The command line as a typed object.
 * @throws UsageError for a missing or unknown subcommand, a missing, extra or malformed ID, unknown flags.
 */
export function parseElevationsArgs(argv: string[]): ElevationsOptions {
  return parseObjectCommand(argv, { verbs: ['get', 'approve', 'revoke'], noun: 'elevation', idPrefix: 'elev-', command: 'kubegate elevations' });
}

const REASON_WIDTH = 50;

/** The list as a table: ID, REQUESTER, GROUPS, PHASE, EXPIRES, REASON, oldest first. */
export function renderTable(list: ElevationList, nowMs: number): string {
  const items = [...list.items].sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? '') || a.id.localeCompare(b.id));
  const rows = [
    ['ID', 'REQUESTER', 'GROUPS', 'PHASE', 'EXPIRES', 'REASON'],
    ...items.map((e) => {
      const reason = safeLine(e.reason ?? '');
      return [
        safeLine(e.id),
        safeLine(e.requester),
        safeLine(e.groups.join(',')),
        e.phase,
        e.phase === 'Active' ? timeAndRelative(e.expiresAt, nowMs) : time(e.expiresAt),
        reason.length > REASON_WIDTH ? `${reason.slice(0, REASON_WIDTH - 1)}…` : reason,
      ];
    }),
  ];
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((r) => r[col]!.length)));
  return rows.map((r) => r.map((cell, col) => (col === r.length - 1 ? cell : cell.padEnd(widths[col]! + 3))).join('').trimEnd()).join('\n') + '\n';
}

/** One elevation, a field per line. */
export function renderDetail(e: Elevation, nowMs: number): string {
  const fields: [string, string | undefined][] = [
    ['ID', safeLine(e.id)],
    ['Requester', safeLine(e.requester)],
    ['Groups', safeLine(e.groups.join(', '))],
    ['Phase', e.phase],
    ['Reason', safeLine(e.reason ?? '')],
    ['Rule', e.rule === undefined ? undefined : safeLine(e.rule)],
    ['Duration', typeof e.durationSeconds === 'number' ? formatDuration(e.durationSeconds) : undefined],
    ['Created', e.createdAt === undefined ? undefined : timeAndRelative(e.createdAt, nowMs)],
    ['Pending until', e.phase === 'Pending' && e.pendingExpiresAt ? timeAndRelative(e.pendingExpiresAt, nowMs) : undefined],
    ['Approved', e.approvedBy === undefined ? undefined : `by ${safeLine(e.approvedBy)}${e.approvedAt ? ` at ${time(e.approvedAt)}` : ''}`],
    ['Active from', e.activeAt === undefined ? undefined : time(e.activeAt)],
    ['Expires', e.expiresAt === undefined ? undefined : timeAndRelative(e.expiresAt, nowMs)],
    ['Revoked', e.revokedBy === undefined && e.revokedAt === undefined ? undefined : `${e.revokedBy ? `by ${safeLine(e.revokedBy)}` : ''}${e.revokedAt ? ` at ${time(e.revokedAt)}` : ''}`.trim()],
  ];
  return fields.filter(([, v]) => v !== undefined).map(([k, v]) => `${`${k}:`.padEnd(15)}${v}`).join('\n') + '\n';
}

/**
 * Run one action and print its answer. Returns the exit code.
 * @throws KubegateApiError when kubegate refuses or cannot be reached (main.ts prints it, exit 1).
 */
export async function runElevations(opts: ElevationsOptions, client: ElevationClient, io: { out(s: string): void; err(s: string): void }, nowMs: number): Promise<number> {
  const { action, output } = opts;
  if (action.verb === 'list') {
    const list = await client.list();
    if (output === 'json') io.out(safeJson(list));
    else if (list.items.length === 0) io.err('No elevations.\n');
    else io.out(renderTable(list, nowMs));
    return 0;
  }
  const e = await client[action.verb](action.id);
  if (output === 'json') io.out(safeJson(e));
  else if (action.verb === 'get') io.out(renderDetail(e, nowMs));
  else if (action.verb === 'approve') io.out(`approved elevation ${safeLine(e.id)}: ${e.phase === 'Active' ? holdsUntil(e, nowMs) : `it is ${e.phase}`}\n`);
  else io.out(`revoked elevation ${safeLine(e.id)} (${safeLine(e.requester)}: ${safeLine(e.groups.join(', '))}); it is ${e.phase}\n`);
  return 0;
}

/** `kubegate elevations ...`: exit 0 done, 1 refused/failed, 2 usage. */
export async function elevationsCommand(argv: string[]): Promise<number> {
  const opts = parseElevationsArgs(argv);
  // The client (and @kubernetes/client-node) loads once the flags are known good: a usage error is quick.
  const { createElevationClient } = await import('./kubegate-api.js');
  const client = createElevationClient(opts.selection);
  return runElevations(opts, client, { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }, Date.now());
}
