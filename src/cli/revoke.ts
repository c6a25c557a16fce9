/**
 * `kubegate revoke (--user NAME | --group NAME) [--issued-before TIME|now] --reason TEXT [-o json]
 * [--kubeconfig F] [--context C]`: deny a person or a group through the kubegate of the kubeconfig
 * context, without a restart. Every replica refuses their next request; their open watches and exec
 * sessions are closed; a user's elevation grants end. With --issued-before only tokens issued before that
 * time are refused (a stolen laptop: the person logs in again).
 *
 * Names are as kubegate maps them (prefixes applied): what `kubectl auth whoami` and the audit log show.
 */
import type { RevocationCreated, RevocationRequest } from '../revocation/types.js';
import { safeJson, safeLine } from './elevation-format.js';
import type { KubeconfigSelection } from './kubegate-api.js';
import { createRevocationClient, subject, type RevocationClient } from './revocations.js';
import { CLIENT_FLAGS, outputFormat, parseFlags, UsageError, type OutputFormat } from './usage.js';

export interface RevokeOptions {
  request: RevocationRequest;
  selection: KubeconfigSelection;
  output: OutputFormat;
}

const FLAGS = {
  ...CLIENT_FLAGS,
  user: { type: 'string' },
  group: { type: 'string' },
  'issued-before': { type: 'string' },
  reason: { type: 'string' },
} as const;

/** @throws UsageError naming the flag that is missing or wrong. */
export function parseRevokeArgs(argv: string[]): RevokeOptions {
  const { values } = parseFlags(argv, FLAGS, false);
  if ((values.user === undefined) === (values.group === undefined)) throw new UsageError('exactly one of --user NAME and --group NAME is required');
  for (const flag of ['user', 'group'] as const) {
    const v = values[flag];
    if (v !== undefined && (v.trim() === '' || v !== v.trim())) throw new UsageError(`--${flag} must be a name without surrounding spaces, got ${JSON.stringify(v)}`);
  }
  if (values.reason === undefined || values.reason.trim() === '') throw new UsageError('--reason TEXT is required (a ticket, "left the company", "laptop stolen")');
  const before = values['issued-before'];
  if (before !== undefined && before !== 'now' && Number.isNaN(Date.parse(before))) {
    throw new UsageError(`--issued-before must be an RFC 3339 time (e.g. 2026-11-27T09:00:00Z) or now, got ${JSON.stringify(before)}`);
  }
  return {
    request: {
      ...(values.user !== undefined && { user: values.user }),
      ...(values.group !== undefined && { group: values.group }),
      ...(before !== undefined && { issuedBefore: before }),
      reason: values.reason,
    },
    selection: { kubeconfig: values.kubeconfig, context: values.context },
    output: outputFormat(values.output),
  };
}

/** One line (or JSON) saying what was revoked and what it ended. */
export function renderCreated(c: RevocationCreated): string {
  const r = c.revocation;
  const scope = r.issuedBefore === undefined ? 'every request is refused from now on' : `tokens issued before ${safeLine(r.issuedBefore)} are refused; a fresh login is accepted`;
  const ended = c.endedElevations.length ? `; ended elevations: ${c.endedElevations.map(safeLine).join(', ')}` : '';
  return `revoked ${safeLine(subject(r))} (${safeLine(r.id)}): ${scope}${ended}\n`;
}

export async function runRevoke(opts: RevokeOptions, client: RevocationClient, io: { out(s: string): void }): Promise<number> {
  const created = await client.create(opts.request);
  io.out(opts.output === 'json' ? safeJson(created) : renderCreated(created));
  return 0;
}

/** `kubegate revoke ...`: exit 0 revoked, 1 refused/failed, 2 usage. */
export async function revokeCommand(argv: string[]): Promise<number> {
  const opts = parseRevokeArgs(argv);
  return runRevoke(opts, createRevocationClient(opts.selection), { out: (s) => process.stdout.write(s) });
}
