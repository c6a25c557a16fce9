/**
 * Revocations as a service: the check every request passes (after authentication, so a cached token is
 * checked again each time), kubegate's own API behind `kubegate revoke` / `kubegate revocations`, and the
 * consequences of a new revocation on this replica: its open watches and sessions of the person are ended
 * (the session registry), listeners are told. Where revocations are created, the person's elevation grants
 * are ended too (once, by the replica that served the request).
 *
 * Fail closed: until the store has been read once, every request is refused with
 * REVOCATION_STORE_UNAVAILABLE (503), since kubegate cannot know who is revoked. After that, a store that
 * loses its API server keeps its last view (and logs), as the elevation store does.
 */
import { randomBytes } from 'node:crypto';
import type { GrantService } from '../elevation/grants.js';
import { KubegateError } from '../errors/errors.js';
import type { SessionFacts, UserInfo } from '../identity/user.js';
import type { Logger } from '../log/logger.js';
import type { RevocationEvent } from './audit.js';
import { createRevocationIndex, isRevoked, type RevocationIndex } from './policy.js';
import { createSessionRegistry, type SessionRegistry } from './sessions.js';
import type { RevocationStore } from './stores.js';
import type { Revocation, RevocationCreated, RevocationVerdict } from './types.js';

export interface Principals {
  users: readonly string[];
  groups: readonly string[];
}

export interface RevocationServiceDeps {
  store: RevocationStore;
  /** `revocation.admins`: who may create, list and delete revocations. */
  admins: Principals;
  /** The grant service in force, when elevation is on: a user's revocation ends their grants. */
  grants?: () => GrantService | undefined;
  /** Revocation events (audited by the caller). */
  onEvent: (event: RevocationEvent) => void;
  log: Logger;
  now?: () => number;
  newId?: () => string;
}

export interface RevocationService {
  /** Resolves once the store has been read (requests are refused with 503 until then). */
  ready(): Promise<void>;
  /**
   * The verdict for one authenticated request: undefined when no revocation applies. Hot path:
   * synchronous, from the store's local view.
   * @throws KubegateError REVOCATION_STORE_UNAVAILABLE before the store was first read.
   */
  check(user: UserInfo, session: SessionFacts): RevocationVerdict | undefined;
  /** Requests in flight: registered by the pipeline, ended here when a revocation applies to them. */
  readonly sessions: SessionRegistry;
  /** Called for every revocation this replica sees arrive (its own and other replicas'). Returns an unsubscribe. */
  onRevoked(listener: (revocation: Revocation) => void): () => void;
  /** `POST /kubegate/v1/revocations` (admins only). */
  create(person: UserInfo, session: SessionFacts, body: unknown, auditId?: string): Promise<RevocationCreated>;
  /** `GET /kubegate/v1/revocations` (admins only), oldest first. */
  list(person: UserInfo): Revocation[];
  get(person: UserInfo, id: string): Revocation;
  /** `DELETE /kubegate/v1/revocations/{id}` (admins only): the person may use kubegate again. */
  delete(person: UserInfo, id: string, auditId?: string): Promise<Revocation>;
  /** New administrators (config reload); the store and its revocations stay. */
  setAdmins(admins: Principals): void;
  close(): void;
}

const NAME_MAX = 256;
const REASON_MAX = 1024;
/** RFC 3339 with a zone (what `date -u +%FT%TZ` and kubectl print). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export function createRevocationService(deps: RevocationServiceDeps): RevocationService {
  const now = deps.now ?? Date.now;
  const newId = deps.newId ?? (() => `rev-${randomBytes(6).toString('hex')}`);
  let admins = deps.admins;
  const sessions = createSessionRegistry();
  const listeners = new Set<(r: Revocation) => void>();
  let synced = false;
  const readyPromise = deps.store.ready().then(() => void (synced = true));
  readyPromise.catch(() => {});

  let index: RevocationIndex | undefined;
  const current = () => {
    const all = deps.store.snapshot();
    if (index?.of !== all) index = createRevocationIndex(all);
    return index;
  };
  const emit = (event: Omit<RevocationEvent, 'at'>) => deps.onEvent({ ...event, at: new Date(now()) });
  const isAdmin = (p: UserInfo) => admins.users.includes(p.username) || p.groups.some((g) => admins.groups.includes(g));
  const requireAdmin = (p: UserInfo, what: string) => {
    if (!isAdmin(p)) throw new KubegateError('REVOCATION_FORBIDDEN', `${p.username} is not a revocation administrator (${what})`, { clientMessage: `only a revocation administrator (revocation.admins) may ${what}` });
  };

  // A revocation arriving (own or another replica's): end this replica's open requests it applies to.
  const unsubscribe = deps.store.onChange((event) => {
    if (event.type !== 'upsert') return;
    const r = event.item;
    const ended = sessions.endWhere((user, session) => isRevoked([r], user, session));
    if (ended > 0) deps.log.info('revocation: ended open requests', { revocation: r.id, requests: ended });
    for (const listener of [...listeners]) {
      try {
        listener(r);
      } catch (err) {
        deps.log.error('revocation: a listener threw', { revocation: r.id, error: (err as Error)?.message });
      }
    }
  });

  return {
    ready: () => readyPromise,
    sessions,

    check(user, session) {
      if (!synced) throw new KubegateError('REVOCATION_STORE_UNAVAILABLE', 'the revocation store has not been read yet: refusing (fail closed)');
      return isRevoked(current(), user, session);
    },

    onRevoked(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },

    async create(person, session, body, auditId) {
      const refuse = (err: KubegateError): never => {
        emit({ kind: 'refused', actor: person.username, refusal: { code: err.code, message: err.clientMessage }, ...(auditId && { requestAuditId: auditId }) });
        throw err;
      };
      try {
        requireAdmin(person, 'revoke access');
      } catch (err) {
        return refuse(err as KubegateError);
      }
      const parsed = parseRequest(body, now());
      if ('error' in parsed) return refuse(parsed.error);
      const revocation: Revocation = { id: newId(), ...parsed.fields, createdBy: person.username, createdAt: new Date(now()).toISOString() };
      if (isRevoked([revocation], person, session) !== undefined) {
        const message = 'this revocation would apply to you and lock you out: ask another administrator';
        return refuse(new KubegateError('REVOCATION_INVALID', message, { clientMessage: message }));
      }
      const created = await deps.store.create(revocation);
      let endedElevations: string[] = [];
      const grants = created.user === undefined ? undefined : deps.grants?.();
      if (grants && created.user !== undefined) {
        try {
          endedElevations = (await grants.endAllOf(created.user, person.username, auditId)).map((e) => e.id);
        } catch (err) {
          // The revocation stands (every request of the person is refused anyway); say what is left.
          deps.log.error('revocation: could not end the elevation grants', { revocation: created.id, user: created.user, error: (err as Error).message });
        }
      }
      emit({ kind: 'revoked', actor: person.username, revocation: created, endedElevations, ...(auditId && { requestAuditId: auditId }) });
      return { revocation: created, endedElevations };
    },

    list(person) {
      requireAdmin(person, 'list revocations');
      return [...deps.store.snapshot()].sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id)).map((r) => ({ ...r }));
    },

    get(person, id) {
      requireAdmin(person, 'read revocations');
      const r = deps.store.snapshot().find((x) => x.id === id);
      if (r === undefined) throw new KubegateError('REVOCATION_NOT_FOUND', `no revocation ${id}`, { clientMessage: `no revocation ${id}` });
      return { ...r };
    },

    async delete(person, id, auditId) {
      try {
        requireAdmin(person, 'delete revocations');
      } catch (err) {
        emit({ kind: 'refused', actor: person.username, refusal: { code: (err as KubegateError).code, message: (err as KubegateError).clientMessage }, ...(auditId && { requestAuditId: auditId }) });
        throw err;
      }
      const held = (await deps.store.get(id)) ?? deps.store.snapshot().find((x) => x.id === id);
      if (held === undefined || !(await deps.store.delete(id))) throw new KubegateError('REVOCATION_NOT_FOUND', `no revocation ${id}`, { clientMessage: `no revocation ${id}` });
      emit({ kind: 'deleted', actor: person.username, revocation: held, ...(auditId && { requestAuditId: auditId }) });
      return held;
    },

    setAdmins(next) {
      admins = next;
    },

    close() {
      unsubscribe();
      listeners.clear();
      deps.store.close();
    },
  };
}

/** The request body, checked field by field (a bad body is refused saying which field is wrong). */
function parseRequest(body: unknown, nowMs: number): { fields: Pick<Revocation, 'user' | 'group' | 'issuedBefore' | 'reason'> } | { error: KubegateError } {
  const bad = (message: string) => ({ error: new KubegateError('REVOCATION_INVALID', message, { clientMessage: message }) });
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return bad('the body must be a JSON object {user or group, issuedBefore?, reason}');
  const { user, group, issuedBefore, reason, ...rest } = body as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) return bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  if ((user === undefined) === (group === undefined)) return bad('exactly one of user and group is required');
  for (const [field, value] of [['user', user], ['group', group]] as const) {
    if (value !== undefined && (typeof value !== 'string' || value.trim() === '' || value.length > NAME_MAX || value !== value.trim())) return bad(`${field} must be a name of 1 to ${NAME_MAX} characters without surrounding spaces`);
  }
  if (typeof reason !== 'string' || reason.trim() === '') return bad('a reason is required');
  if (reason.length > REASON_MAX) return bad(`the reason is longer than ${REASON_MAX} characters`);
  let before: string | undefined;
  if (issuedBefore !== undefined) {
    if (issuedBefore === 'now') before = new Date(nowMs).toISOString();
    else if (typeof issuedBefore === 'string' && RFC3339.test(issuedBefore) && !Number.isNaN(Date.parse(issuedBefore))) before = new Date(Date.parse(issuedBefore)).toISOString();
    else return bad('issuedBefore must be an RFC 3339 time (e.g. 2026-11-27T09:00:00Z) or "now"');
  }
  return {
    fields: {
      ...(user !== undefined && { user: user as string }),
      ...(group !== undefined && { group: group as string }),
      ...(before !== undefined && { issuedBefore: before }),
      reason: reason.trim(),
    },
  };
}
