/**
 * Break-glass grants: the policy (config `elevation.rules`) applied to requests, approvals and
 * revocations, on top of a shared {@link ElevationStore}. Plain data in and out; the clock is injected.
 *
 * - request: the person must match a rule's requesters, every group asked for must be in that one rule,
 *   the duration within its maximum, the reason long enough, the token must prove MFA (`amr`/`acr`) and
 *   a fresh login (`auth_time`) when the rule says so. Without approvers the grant is Active at once.
 * - approve: a Pending request, by someone in the rule's approvers, never the requester (two people).
 * - revoke: by the requester or an approver, Pending or Active.
 * - expiry: computed from `expiresAt` on every read (a grant stops applying the moment it expires, on
 *   every replica), and recorded (phase Expired, one audit event) by whichever replica's sweep wins.
 * Concurrent writes use the store's resourceVersion: two racing approvals cannot both win; the loser
 * re-reads and is refused with the state it finds.
 */
import { randomBytes } from 'node:crypto';
import type { ElevationConfig, ElevationRule } from '../config/schema.js';
import { KubegateError } from '../errors/errors.js';
import type { SessionFacts, UserInfo } from '../identity/user.js';
import type { Elevation, ElevationRequest, ElevationStore } from './types.js';

export type GrantEventKind = 'requested' | 'approved' | 'refused' | 'activated' | 'revoked' | 'expired';

/** Something that happened to a grant: audited, and sent to the notification webhook. */
export interface GrantEvent {
  kind: GrantEventKind;
  /** The username that caused it; `kubegate` for expiry. */
  actor: string;
  at: Date;
  /** The grant (absent for a refused request that never became one). */
  elevation?: Elevation;
  /** For `refused`: what was asked and the refusal's code and message. */
  request?: ElevationRequest;
  refusal?: { code: string; message: string };
  /** The audit ID of the API request that caused it, if any. */
  requestAuditId?: string;
}

export interface GrantServiceDeps {
  store: ElevationStore;
  policy: Pick<ElevationConfig, 'rules' | 'pendingTimeoutSeconds'>;
  onEvent: (event: GrantEvent) => void;
  now?: () => number;
  newId?: () => string;
}

export interface GrantService {
  request(person: UserInfo, session: SessionFacts, body: unknown, auditId?: string): Promise<Elevation>;
  approve(person: UserInfo, id: string, auditId?: string): Promise<Elevation>;
  revoke(person: UserInfo, id: string, auditId?: string): Promise<Elevation>;
  get(person: UserInfo, id: string): Elevation;
  /**
   * End every Pending or Active grant of `requester` now (their access was revoked): each becomes Revoked
   * by `actor`, one `revoked` event each. No eligibility check: the caller decided (revocation admins).
   * Grants another replica ends first are skipped. @returns the grants this call revoked.
   */
  endAllOf(requester: string, actor: string, auditId?: string): Promise<Elevation[]>;
  /** The person's own grants, and every grant of a rule they approve. */
  list(person: UserInfo): Elevation[];
  /** Grants in force for a username right now. Hot path: synchronous, from the store's local view. */
  active(username: string): Elevation[];
  /** How many grants are in force now (all people). */
  activeCount(): number;
  /** Record lapsed grants and requests as Expired (one replica wins each); the timer calls it every second. */
  sweep(): Promise<void>;
}

const MAX_BODY_GROUPS = 20;

export function createGrantService(deps: GrantServiceDeps): GrantService {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => `elev-${randomBytes(6).toString('hex')}`);
  const rules = new Map(deps.policy.rules.map((r) => [r.name, r]));
  const iso = (ms: number) => new Date(ms).toISOString();
  // Active grants by requester, rebuilt only when the store's view changes (its snapshot is a new array
  // then): the per-request lookup does not scan every grant ever stored (revoked and expired ones stay).
  let indexed: { of: readonly Elevation[]; byRequester: Map<string, Elevation[]> } | undefined;
  const activeByRequester = () => {
    const all = deps.store.snapshot();
    if (indexed?.of !== all) {
      const byRequester = new Map<string, Elevation[]>();
      for (const e of all) {
        if (e.phase !== 'Active') continue;
        const list = byRequester.get(e.requester);
        if (list) list.push(e);
        else byRequester.set(e.requester, [e]);
      }
      indexed = { of: all, byRequester };
    }
    return indexed.byRequester;
  };

  const emit = (event: Omit<GrantEvent, 'at'>) => deps.onEvent({ ...event, at: new Date(now()) });

  const refuse = (person: UserInfo, request: ElevationRequest | undefined, err: KubegateError, auditId: string | undefined): never => {
    emit({ kind: 'refused', actor: person.username, ...(request && { request }), refusal: { code: err.code, message: err.clientMessage }, ...(auditId && { requestAuditId: auditId }) });
    throw err;
  };

  const isApprover = (person: UserInfo, rule: ElevationRule | undefined) => rule?.approvers !== undefined && matches(person, rule.approvers);
  const visible = (person: UserInfo, e: Elevation) => e.requester === person.username || isApprover(person, rules.get(e.rule));
  /** The phase as of now: a lapsed Active or Pending grant is Expired even before the sweep records it. */
  const current = (e: Elevation): Elevation => {
    const t = now();
    if (e.phase === 'Active' && e.expiresAt !== undefined && Date.parse(e.expiresAt) <= t) return { ...e, phase: 'Expired' };
    if (e.phase === 'Pending' && e.pendingExpiresAt !== undefined && Date.parse(e.pendingExpiresAt) <= t) return { ...e, phase: 'Expired' };
    return e;
  };

  /** Read, check, write; on a concurrent change re-read and check again (the check sees what won). */
  const change = async (id: string, apply: (e: Elevation) => Elevation): Promise<Elevation> => {
    for (let attempt = 0; ; attempt++) {
      const stored = await deps.store.get(id);
      if (stored === undefined) throw new KubegateError('ELEVATION_NOT_FOUND', `no elevation ${id}`);
      const next = apply(current(stored));
      try {
        return await deps.store.update({ ...next, resourceVersion: stored.resourceVersion });
      } catch (err) {
        if (!(err instanceof KubegateError && err.code === 'ELEVATION_CONFLICT') || attempt >= 2) throw err;
      }
    }
  };

  const findVisible = (person: UserInfo, id: string) => {
    const e = deps.store.snapshot().find((x) => x.id === id);
    if (e === undefined || !visible(person, e)) throw new KubegateError('ELEVATION_NOT_FOUND', `no elevation ${id} visible to ${person.username}`, { clientMessage: `no elevation ${id}` });
    return current(e);
  };

  return {
    async request(person, session, body, auditId) {
      const asked = parseRequest(body);
      if (!asked.ok) return refuse(person, undefined, asked.error, auditId);
      const request = asked.request;
      const rule = deps.policy.rules.find((r) => matches(person, r.requesters) && request.groups.every((g) => r.groups.includes(g)));
      if (rule === undefined) {
        const eligible = deps.policy.rules.filter((r) => matches(person, r.requesters)).flatMap((r) => r.groups);
        const missing = request.groups.find((g) => !eligible.includes(g)) ?? request.groups[0]!;
        const message = eligible.length === 0
          ? `${person.username} is not eligible for any elevation`
          : missing && !eligible.includes(missing)
            ? `${person.username} is not eligible for group ${JSON.stringify(missing)} (eligible: ${[...new Set(eligible)].join(', ')})`
            : 'no single rule grants all the groups asked for together: ask for them separately';
        return refuse(person, request, new KubegateError('ELEVATION_NOT_ELIGIBLE', message, { clientMessage: message }), auditId);
      }
      if (request.durationSeconds > rule.maxDurationSeconds) {
        const message = `duration ${request.durationSeconds}s exceeds the maximum of rule ${rule.name}: ${rule.maxDurationSeconds}s`;
        return refuse(person, request, new KubegateError('ELEVATION_INVALID', message, { clientMessage: message }), auditId);
      }
      if (request.reason.trim().length < rule.minReasonLength) {
        const message = `a reason of at least ${rule.minReasonLength} characters is required (an incident or ticket number and what you will do)`;
        return refuse(person, request, new KubegateError('ELEVATION_INVALID', message, { clientMessage: message }), auditId);
      }
      if (rule.mfa !== undefined && !rule.mfa.amr.some((m) => session.amr.includes(m)) && !(session.acr !== undefined && rule.mfa.acr.includes(session.acr))) {
        const wanted = [...rule.mfa.amr.map((m) => `amr ${m}`), ...rule.mfa.acr.map((a) => `acr ${a}`)].join(' or ');
        const message = `rule ${rule.name} needs a login with multi-factor authentication (${wanted}); your token has ${session.amr.length ? `amr ${session.amr.join(',')}` : 'no amr'}${session.acr ? `, acr ${session.acr}` : ''}: run your login again with MFA`;
        return refuse(person, request, new KubegateError('ELEVATION_MFA_REQUIRED', message, { clientMessage: message }), auditId);
      }
      if (rule.maxAuthAgeSeconds !== undefined) {
        const age = session.authTime === undefined ? undefined : Math.floor(now() / 1000) - session.authTime;
        if (age === undefined || age > rule.maxAuthAgeSeconds) {
          const message = `rule ${rule.name} needs a login within the last ${describeSeconds(rule.maxAuthAgeSeconds)}; ${age === undefined ? 'your token does not say when you logged in (no auth_time)' : `you logged in ${describeSeconds(age)} ago`}: run your login again with a fresh MFA prompt`;
          return refuse(person, request, new KubegateError('ELEVATION_LOGIN_TOO_OLD', message, { clientMessage: message }), auditId);
        }
      }
      const t = now();
      const base: Elevation = {
        id: newId(),
        requester: person.username,
        groups: request.groups,
        durationSeconds: request.durationSeconds,
        reason: request.reason.trim(),
        rule: rule.name,
        phase: 'Pending',
        createdAt: iso(t),
      };
      const elevation: Elevation = rule.approvers === undefined
        ? { ...base, phase: 'Active', activeAt: iso(t), expiresAt: iso(t + request.durationSeconds * 1000) }
        : { ...base, pendingExpiresAt: iso(t + deps.policy.pendingTimeoutSeconds * 1000) };
      const created = await deps.store.create(elevation);
      emit({ kind: 'requested', actor: person.username, elevation: created, ...(auditId && { requestAuditId: auditId }) });
      if (created.phase === 'Active') emit({ kind: 'activated', actor: person.username, elevation: created, ...(auditId && { requestAuditId: auditId }) });
      return created;
    },

    async approve(person, id, auditId) {
      findVisible(person, id);
      const approved = await change(id, (e) => {
        if (e.requester === person.username) throw new KubegateError('ELEVATION_NOT_ELIGIBLE', `${person.username} tried to approve their own request ${id}`, { clientMessage: 'you cannot approve your own request: a second person must' });
        if (!isApprover(person, rules.get(e.rule))) throw new KubegateError('ELEVATION_NOT_ELIGIBLE', `${person.username} may not approve ${id}`, { clientMessage: `you are not an approver for rule ${e.rule}` });
        if (e.phase !== 'Pending') throw new KubegateError('ELEVATION_STATE', `${id} is ${e.phase}`, { clientMessage: `elevation ${id} is ${e.phase}${e.approvedBy ? ` (approved by ${e.approvedBy})` : ''}: only a Pending request can be approved` });
        const t = now();
        const { pendingExpiresAt: _lapse, ...rest } = e;
        return { ...rest, phase: 'Active', approvedBy: person.username, approvedAt: iso(t), activeAt: iso(t), expiresAt: iso(t + e.durationSeconds * 1000) };
      }).catch((err: unknown) => refuseChange(person, id, err, auditId));
      emit({ kind: 'approved', actor: person.username, elevation: approved, ...(auditId && { requestAuditId: auditId }) });
      emit({ kind: 'activated', actor: person.username, elevation: approved, ...(auditId && { requestAuditId: auditId }) });
      return approved;
    },

    async revoke(person, id, auditId) {
      findVisible(person, id);
      const revoked = await change(id, (e) => {
        if (e.requester !== person.username && !isApprover(person, rules.get(e.rule))) {
          throw new KubegateError('ELEVATION_NOT_ELIGIBLE', `${person.username} may not revoke ${id}`, { clientMessage: 'only the requester or an approver may revoke' });
        }
        if (e.phase !== 'Pending' && e.phase !== 'Active') throw new KubegateError('ELEVATION_STATE', `${id} is ${e.phase}`, { clientMessage: `elevation ${id} is already ${e.phase}` });
        return { ...e, phase: 'Revoked', revokedBy: person.username, revokedAt: iso(now()) };
      }).catch((err: unknown) => refuseChange(person, id, err, auditId));
      emit({ kind: 'revoked', actor: person.username, elevation: revoked, ...(auditId && { requestAuditId: auditId }) });
      return revoked;
    },

    async endAllOf(requester, actor, auditId) {
      const open = deps.store.snapshot().filter((e) => e.requester === requester && (e.phase === 'Pending' || e.phase === 'Active'));
      const ended: Elevation[] = [];
      for (const { id } of open) {
        let revoked: Elevation;
        try {
          revoked = await change(id, (e) => {
            if (e.phase !== 'Pending' && e.phase !== 'Active') throw new KubegateError('ELEVATION_STATE', `${id} is ${e.phase}`);
            return { ...e, phase: 'Revoked', revokedBy: actor, revokedAt: iso(now()) };
          });
        } catch (err) {
          // Ended meanwhile (expired, revoked by someone else, deleted): nothing left to end.
          if (err instanceof KubegateError && (err.code === 'ELEVATION_STATE' || err.code === 'ELEVATION_NOT_FOUND')) continue;
          throw err;
        }
        emit({ kind: 'revoked', actor, elevation: revoked, ...(auditId && { requestAuditId: auditId }) });
        ended.push(revoked);
      }
      return ended;
    },

    get: (person, id) => findVisible(person, id),

    list: (person) => deps.store.snapshot().filter((e) => visible(person, e)).map(current),

    active(username) {
      const t = now();
      return (activeByRequester().get(username) ?? []).filter((e) => inForce(e, t));
    },

    activeCount() {
      const t = now();
      let count = 0;
      for (const grants of activeByRequester().values()) count += grants.filter((e) => inForce(e, t)).length;
      return count;
    },

    async sweep() {
      for (const stored of deps.store.snapshot()) {
        if (current(stored).phase !== 'Expired' || stored.phase === 'Expired') continue;
        try {
          const expired = await deps.store.update({ ...stored, phase: 'Expired' });
          emit({ kind: 'expired', actor: 'kubegate', elevation: expired });
        } catch {
          // Another replica recorded it first, or the store is briefly unavailable: the next sweep retries.
        }
      }
    },
  };

  function refuseChange(person: UserInfo, id: string, err: unknown, auditId: string | undefined): never {
    if (err instanceof KubegateError && err.code !== 'ELEVATION_STORE_UNAVAILABLE') {
      const elevation = deps.store.snapshot().find((e) => e.id === id);
      emit({ kind: 'refused', actor: person.username, ...(elevation && { elevation }), refusal: { code: err.code, message: err.clientMessage }, ...(auditId && { requestAuditId: auditId }) });
    }
    throw err;
  }
}

function inForce(e: Elevation, t: number): boolean {
  return e.phase === 'Active' && e.expiresAt !== undefined && Date.parse(e.expiresAt) > t;
}

function matches(person: UserInfo, who: { users: readonly string[]; groups: readonly string[] }): boolean {
  return who.users.includes(person.username) || person.groups.some((g) => who.groups.includes(g));
}

/** The request body, checked field by field (a bad body is refused with what is wrong). */
function parseRequest(body: unknown): { ok: true; request: ElevationRequest } | { ok: false; error: KubegateError } {
  const bad = (message: string) => ({ ok: false as const, error: new KubegateError('ELEVATION_INVALID', message, { clientMessage: message }) });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('the body must be a JSON object {groups, durationSeconds, reason}');
  const { groups, durationSeconds, reason, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  if (!Array.isArray(groups) || groups.length === 0 || groups.length > MAX_BODY_GROUPS || !groups.every((g) => typeof g === 'string' && g.length > 0 && g.length <= 256)) {
    return bad(`groups must be a list of 1 to ${MAX_BODY_GROUPS} group names`);
  }
  if (typeof durationSeconds !== 'number' || !Number.isInteger(durationSeconds) || durationSeconds < 1) return bad('durationSeconds must be a positive whole number');
  if (typeof reason !== 'string' || reason.trim() === '') return bad('a reason is required');
  if (reason.length > 1024) return bad('the reason is longer than 1024 characters');
  return { ok: true, request: { groups: [...new Set(groups as string[])], durationSeconds, reason } };
}

function describeSeconds(s: number): string {
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)} minutes`;
  return `${Math.round(s / 3600)} hours`;
}
