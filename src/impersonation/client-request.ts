/**
 * `kubectl --as`, `--as-group`, `--as-uid` (and `Impersonate-Extra-*`): a client's impersonation headers
 * read as a *request* to act as another identity, checked exactly as kube-apiserver's impersonation
 * filter checks them — one SubjectAccessReview per requested attribute, with verb `impersonate`, asked
 * about the authenticated person — and turned into the identity kubegate impersonates. The client's raw
 * headers are never forwarded: headers.ts still strips them and sets the result in its one place.
 */
import { KubegateError } from '../errors/errors.js';
import type { UserInfo } from '../identity/user.js';
import type { AccessReviewer, ReviewAttributes } from '../upstream/access-review.js';

/** What the client asked to act as (header values decoded from their UTF-8 bytes). */
export interface ImpersonationRequest {
  user: string;
  groups: string[];
  uid?: string;
  /** Extra keys lower-cased and unescaped, as kube-apiserver reads them. */
  extra: Record<string, string[]>;
}

/** Extra keys kubegate sets itself to record who really acted; a client may not request them. */
export const KUBEGATE_EXTRA_PREFIX = 'kubegate.io/';
export const ORIGINAL_USERNAME_EXTRA = 'kubegate.io/original-username';
export const ORIGINAL_GROUPS_EXTRA = 'kubegate.io/original-groups';
export const ORIGINAL_UID_EXTRA = 'kubegate.io/original-uid';
/** The ids of the break-glass grants in force for the request (set by kubegate, never by a client). */
export const ELEVATION_EXTRA = 'kubegate.io/elevation';

const SERVICE_ACCOUNT_PREFIX = 'system:serviceaccount:';

/**
 * The client's impersonation request, or undefined when it sent no `Impersonate-*` header.
 * @param rawHeaders Node's `req.rawHeaders`: each header line separately (a group may contain a comma).
 * @throws KubegateError IMPERSONATION_INVALID (400) for a malformed request, e.g. groups without a user.
 */
export function parseImpersonationRequest(rawHeaders: readonly string[]): ImpersonationRequest | undefined {
  const users: string[] = [];
  const uids: string[] = [];
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  let any = false;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    if (!name.startsWith('impersonate-')) continue;
    any = true;
    const value = Buffer.from(rawHeaders[i + 1]!, 'latin1').toString('utf8');
    if (name === 'impersonate-user') users.push(value);
    else if (name === 'impersonate-uid') uids.push(value);
    else if (name === 'impersonate-group') groups.push(value);
    else if (name.startsWith('impersonate-extra-')) {
      const key = unescapeExtraKey(name.slice('impersonate-extra-'.length));
      (extra[key] ??= []).push(value);
    } else throw invalid(`unknown impersonation header ${name}`);
  }
  if (!any) return undefined;
  if (users.length !== 1 || users[0] === '') {
    throw invalid(users.length === 0 ? 'Impersonate-Group, Impersonate-Uid or Impersonate-Extra without Impersonate-User' : 'exactly one non-empty Impersonate-User is required');
  }
  if (uids.length > 1) throw invalid('at most one Impersonate-Uid');
  const request: ImpersonationRequest = { user: users[0]!, groups, extra };
  if (uids.length === 1) request.uid = uids[0]!;
  return request;
}

/**
 * Check every requested attribute with the API server's authorizer, as the authenticated `person`, and
 * return the identity to impersonate: the requested one, plus kubegate's record of who really acted.
 * @throws KubegateError IMPERSONATION_DENIED (403) naming the first refused attribute;
 *   AUTHORIZATION_UNAVAILABLE (503) when a review cannot be made.
 */
export async function authorizeImpersonation(person: UserInfo, request: ImpersonationRequest, reviewer: AccessReviewer): Promise<UserInfo> {
  for (const key of Object.keys(request.extra)) {
    if (key.startsWith(KUBEGATE_EXTRA_PREFIX)) {
      throw new KubegateError('IMPERSONATION_DENIED', `client asked for reserved extra key ${key}`, {
        clientMessage: `extra keys under ${KUBEGATE_EXTRA_PREFIX} are set by kubegate and cannot be impersonated`,
      });
    }
  }
  // The authorizer sees the person as the API server would: authenticated.
  const subject: UserInfo = person.groups.includes('system:authenticated') ? person : { ...person, groups: [...person.groups, 'system:authenticated'] };
  for (const attributes of requestedAttributes(request)) {
    const decision = await reviewer.review(subject, attributes);
    if (!decision.allowed) {
      const message = forbiddenMessage(person.username, attributes);
      throw new KubegateError('IMPERSONATION_DENIED', message, { clientMessage: message, details: decision.reason ? { authorizerReason: decision.reason.slice(0, 200) } : {} });
    }
  }
  const extra: Record<string, readonly string[]> = { ...request.extra, [ORIGINAL_USERNAME_EXTRA]: [person.username] };
  if (person.groups.length > 0) extra[ORIGINAL_GROUPS_EXTRA] = [...person.groups];
  if (person.uid !== undefined) extra[ORIGINAL_UID_EXTRA] = [person.uid];
  return request.uid === undefined ? { username: request.user, groups: [...request.groups], extra } : { username: request.user, uid: request.uid, groups: [...request.groups], extra };
}

/** One authorizer check per requested attribute, as kube-apiserver's impersonation filter builds them. */
export function requestedAttributes(request: ImpersonationRequest): ReviewAttributes[] {
  const out: ReviewAttributes[] = [];
  const sa = serviceAccount(request.user);
  out.push(sa ? { verb: 'impersonate', group: '', resource: 'serviceaccounts', namespace: sa.namespace, name: sa.name } : { verb: 'impersonate', group: '', resource: 'users', name: request.user });
  for (const group of request.groups) out.push({ verb: 'impersonate', group: '', resource: 'groups', name: group });
  if (request.uid !== undefined) out.push({ verb: 'impersonate', group: 'authentication.k8s.io', resource: 'uids', name: request.uid });
  for (const [key, values] of Object.entries(request.extra)) {
    for (const value of values) out.push({ verb: 'impersonate', group: 'authentication.k8s.io', resource: 'userextras', subresource: key, name: value });
  }
  return out;
}

function serviceAccount(user: string): { namespace: string; name: string } | undefined {
  if (!user.startsWith(SERVICE_ACCOUNT_PREFIX)) return undefined;
  const [namespace, name, ...rest] = user.slice(SERVICE_ACCOUNT_PREFIX.length).split(':');
  if (!namespace || !name || rest.length > 0) throw invalid(`malformed service account name ${JSON.stringify(user)}`);
  return { namespace, name };
}

/** kube-apiserver's wording: `users "x" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope`. */
function forbiddenMessage(person: string, a: ReviewAttributes): string {
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${a.resource} "${a.name ?? ''}" is forbidden: User "${person}" cannot impersonate resource "${resource}" in API group "${a.group}" ${scope}`;
}

/** Header names arrive lower-cased; keys are percent-escaped the way client-go escapes them. */
function unescapeExtraKey(escaped: string): string {
  try {
    return decodeURIComponent(escaped);
  } catch {
    throw invalid(`malformed Impersonate-Extra key ${JSON.stringify(escaped.slice(0, 60))}`);
  }
}

function invalid(message: string): KubegateError {
  return new KubegateError('IMPERSONATION_INVALID', message, { clientMessage: message });
}
