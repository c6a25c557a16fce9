/**
 * Revocation without restart: the plain data shared by the policy check, the service, the stores, the HTTP
 * API (`/kubegate/v1/revocations`) and the CLI (`kubegate revoke`, `kubegate revocations`). No behaviour.
 *
 * A Revocation denies one user or one group (names as kubegate maps them: prefixes applied, exactly what
 * the audit log shows), either outright or only for tokens issued before a time (`issuedBefore`: a laptop
 * was stolen, the person logs in again). It is in force from its creation until it is deleted.
 */
import type { StoredItem } from '../store/types.js';

export const REVOCATION_API_GROUP = 'kubegate.io';
export const REVOCATION_API_VERSION = 'v1alpha1';
export const REVOCATION_KIND = 'Revocation';
export const REVOCATION_PLURAL = 'revocations';

/** What an administrator asks for (the body of `POST /kubegate/v1/revocations`). */
export interface RevocationRequest {
  /** Exactly one of user or group. */
  user?: string;
  group?: string;
  /** RFC 3339 time, or `now` (the server's clock): only tokens issued (`iat`) before it are refused. */
  issuedBefore?: string;
  /** Why (a ticket, "left the company", "laptop stolen"): required. */
  reason: string;
}

export interface Revocation extends StoredItem {
  /** Unique, DNS-label safe (`rev-` + random): the custom resource's name. */
  id: string;
  /** The username denied (exactly one of user and group is set). */
  user?: string;
  /** The group denied: every person whose token maps to this group. */
  group?: string;
  /** Set: only tokens issued before this time (ISO 8601, UTC) are refused; a fresh login is accepted. */
  issuedBefore?: string;
  reason: string;
  /** The administrator who revoked (authenticated username). */
  createdBy: string;
  createdAt: string;
}

/** The answer of `GET /kubegate/v1/revocations`. */
export interface RevocationList {
  items: Revocation[];
}

/** The answer of `POST /kubegate/v1/revocations`: the revocation, and the elevation grants it ended. */
export interface RevocationCreated {
  revocation: Revocation;
  /** Ids of the person's pending or active elevation grants that were revoked with it. */
  endedElevations: string[];
}

/** Why a request is refused: the revocation that matched, and the message the person sees. */
export interface RevocationVerdict {
  revocation: Revocation;
  /** For the client and the audit record: when, why, and what to do (never a token). */
  message: string;
}
