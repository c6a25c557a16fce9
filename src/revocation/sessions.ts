/**
 * The requests in flight, so a revocation can end the long-running ones of the person it names (open
 * watches, log streams, exec/attach/port-forward sessions). The pipeline registers each request when its
 * exchange opens, with getters for the person (known once authenticated) and a way to end it; the
 * revocation service asks the registry to end every request a new revocation applies to.
 *
 * Ordinary requests in flight are registered too: ending them does nothing the forwarder does not already
 * do on shutdown (they finish as they were authorised); watches end cleanly, sessions are closed.
 */
import type { SessionFacts, UserInfo } from '../identity/user.js';
import type { RevocationVerdict } from './types.js';

export interface RegisteredRequest {
  /** The authenticated person; undefined until authentication finished (then the check at the door applies). */
  user(): UserInfo | undefined;
  session(): SessionFacts | undefined;
  /** End the request now because of this verdict (annotate its audit record, close its stream). */
  end(verdict: RevocationVerdict): void;
}

export interface SessionRegistry {
  /** Register a request in flight; call the returned function when it is done. */
  register(request: RegisteredRequest): () => void;
  /** End every registered request `check` finds revoked; returns how many were ended. */
  endWhere(check: (user: UserInfo, session: SessionFacts) => RevocationVerdict | undefined): number;
  /** Requests registered now. */
  size(): number;
}

export function createSessionRegistry(): SessionRegistry {
  const open = new Set<RegisteredRequest>();
  return {
    register(request) {
      open.add(request);
      return () => void open.delete(request);
    },
    endWhere(check) {
      let ended = 0;
      for (const request of [...open]) {
        const user = request.user();
        if (user === undefined) continue;
        const verdict = check(user, request.session() ?? { amr: [] });
        if (verdict === undefined) continue;
        open.delete(request);
        request.end(verdict);
        ended++;
      }
      return ended;
    },
    size: () => open.size,
  };
}
