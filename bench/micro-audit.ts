/**
 * Micro-measurement (issue 15): the audit work of one ordinary request, CPU only (the bytes a file write
 * would hand to the stream; no I/O). Default policy (Metadata, RequestReceived omitted), a kubectl GET.
 * Before (composed here from the same exported functions, as the trail and the file sink did it): the
 * decision from a RequestReceived record built for it, that record built again and judged again for the
 * stage write (then omitted), a new decision object per call, the final record judged and stringified,
 * the file chunk as `lines.join('\n') + '\n'` encoded by the stream. After: createAuditTrail as it is
 * now (decision from the context, an omitted stage never built, decisions shared per rule); the file
 * chunk as before (encoding the lines one by one into one preallocated Buffer measured 0.8× of
 * join-then-encode, so the sink keeps the join). Run: npx tsx bench/micro-audit.ts — records/s, medians of 7 rounds, same run.
 */
import { auditEvent, policyAttributes, stageEvent, type AuditRecord } from '../src/audit/event.js';
import { decide, DEFAULT_POLICY, type Policy } from '../src/audit/policy.js';
import { createAuditTrail } from '../src/audit/trail.js';
import type { AuditDecision } from '../src/request/audit-types.js';
import type { RequestContext } from '../src/request/context.js';
import { parseRequestInfo } from '../src/request/request-info.js';
import { freezeUser } from '../src/identity/user.js';

const url = '/api/v1/namespaces/payments/pods?limit=500';
const user = freezeUser({ username: 'oidc:alice@example.com', uid: 'u-1', groups: ['oidc:dev', 'oidc:platform', 'oidc:oncall', 'oidc:readers', 'oidc:staff'], extra: { 'example.com/department': ['engineering'] } });
const context = (): RequestContext => ({ auditId: '7c1e6b0a-2f4d-4b8e-9a3c-5d6e7f8a9b0c', receivedAt: new Date(), clientAddress: '127.0.0.1', method: 'GET', url, userAgent: 'kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef0', info: parseRequestInfo('GET', url), user, impersonated: user, strippedImpersonation: [], strippedRequestHeaders: [] });
const outcome = { kind: 'completed' as const, statusSent: 200, forwarded: true, annotations: {} };

/** decide() as it was: the same rule matching, then a new decision (and omitStages array) per call. */
function oldDecide(policy: Policy, attrs: ReturnType<typeof policyAttributes>): AuditDecision {
  const d = decide(policy, attrs);
  return d.level === 'None' ? { ...d } : { level: d.level, omitStages: [...new Set([...policy.omitStages, ...d.omitStages])], omitManagedFields: d.omitManagedFields };
}

let bytes = 0;
const BATCH = 16; // records per file write (blocking mode writes what gathered since the last tick)
let lines: string[] = [];
const oldWrite = (record: AuditRecord) => {
  const d = oldDecide(DEFAULT_POLICY, policyAttributes(record));
  if (d.level === 'None' || d.omitStages.includes(record.stage)) return;
  record.level = d.level;
  lines.push(JSON.stringify(record));
  if (lines.length >= BATCH) {
    bytes += Buffer.from(lines.join('\n') + '\n').length; // what the stream did with the string
    lines = [];
  }
};
const before = () => {
  const ctx = context();
  const decision = oldDecide(DEFAULT_POLICY, policyAttributes(stageEvent(ctx, 'RequestReceived', {})));
  oldWrite(stageEvent(ctx, 'RequestReceived', { decision, annotations: {} }));
  oldWrite(auditEvent(ctx, { ...outcome, audit: decision }));
};

const trail = createAuditTrail({
  policy: DEFAULT_POLICY,
  maxBodyBytes: 0,
  failClosed: false,
  output: {
    write(line) {
      lines.push(line);
      if (lines.length >= BATCH) {
        bytes += Buffer.from(lines.join('\n') + '\n').length; // the file sink, unchanged
        lines = [];
      }
    },
    healthy: () => true,
    close: async () => {},
  },
});
const after = () => {
  const ctx = context();
  const decision = trail.hooks.decide(ctx);
  trail.hooks.stage(ctx, 'RequestReceived', { decision, annotations: {} });
  trail.write(auditEvent(ctx, { ...outcome, audit: decision }));
};

const N = 50_000;
const rounds: Record<string, number[]> = { before: [], after: [] };
for (let r = 0; r < 7; r++) {
  for (const [name, fn] of [['before', before], ['after', after]] as const) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) fn();
    rounds[name]!.push(N / (Number(process.hrtime.bigint() - t0) / 1e9));
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
for (const [name, xs] of Object.entries(rounds)) console.log(`${Math.round(median(xs)).toString().padStart(8)} requests/s  ${name}`);
console.log(`after/before: ${(median(rounds.after!) / median(rounds.before!)).toFixed(2)}×  (${bytes > 0 ? 'bytes written' : ''})`);

