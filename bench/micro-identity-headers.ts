/**
 * Micro-measurement (issue 15): the identity part of the outgoing headers. Before: `Impersonate-*` headers
 * built for every request (escaping extra keys, validating every value). After: built once per cached
 * identity (impersonation/identity-block.ts; the token cache's UserInfo is frozen) and copied in.
 * Both paths are still in the code (an unfrozen UserInfo is built per request), so both run here, in the
 * same process. Run: npx tsx bench/micro-identity-headers.ts — ns/op, medians of 7 rounds.
 */
import { identityBlock } from '../src/impersonation/identity-block.js';
import { impersonationHeaders, outgoingHeaders } from '../src/impersonation/headers.js';
import { freezeUser, type UserInfo } from '../src/identity/user.js';
import { printNsPerOp, timeVariants } from './micro.js';

const person = (): UserInfo => ({
  username: 'oidc:alice@example.com',
  uid: '6f1c2a9e-3b7d-4c1e-9a55-2f0e8d7c6b4a',
  groups: ['oidc:dev', 'oidc:platform', 'oidc:oncall', 'oidc:readers', 'oidc:team-payments', 'oidc:team-search', 'oidc:eu', 'oidc:staff'],
  extra: { 'example.com/department': ['engineering'], 'oidc.kubegate.io/issuer': ['https://login.example.com'] },
});
const perRequest = person();
const cached = freezeUser(person());
const client = {
  host: '127.0.0.1:6443',
  'user-agent': 'kubectl/v1.32.0 (linux/amd64) kubernetes/abcdef0',
  accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json',
  authorization: 'Bearer x',
  'kubectl-command': 'kubectl get',
  'kubectl-session': '0b7a2c3e-9f1d-4e6a-8b5c-1d2e3f4a5b6c',
  'accept-encoding': 'gzip',
};
const id = (user: UserInfo) => ({ user, authorization: 'Bearer sa', auditId: 'a1b2c3', clientAddress: '127.0.0.1', requestHeaderNames: { usernameHeaders: [], uidHeaders: [], groupHeaders: [], extraHeadersPrefixes: [] } });
const idPerRequest = id(perRequest);
const idCached = id(cached);

const variants: Record<string, () => number> = {
  'identity block, before: impersonationHeaders per request': () => Object.keys(impersonationHeaders(perRequest)).length,
  'identity block, after: identityBlock of a cached identity': () => Object.keys(identityBlock(cached, impersonationHeaders)).length,
  'outgoingHeaders, before (identity built per request)': () => Object.keys(outgoingHeaders(client, idPerRequest).headers).length,
  'outgoingHeaders, after (cached identity\'s block)': () => Object.keys(outgoingHeaders(client, idCached).headers).length,
};

printNsPerOp(timeVariants(variants, 100_000));
