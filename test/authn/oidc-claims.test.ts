/**
 * The `--oidc-*` claim mapping, kube-apiserver's semantics, through the path a token takes: the `oidc:`
 * settings resolved into an issuer (authn/configured.ts `loadIssuers`, via the equivalent
 * AuthenticationConfiguration) and the claims mapped by that issuer's rules (identity/structured.ts).
 */
import t from 'tap';
import { loadIssuers } from '../../src/authn/configured.js';
import type { OidcSection } from '../../src/authn/auth-config.js';
import { mapStructuredClaims, type Claims } from '../../src/identity/structured.js';
import type { UserInfo } from '../../src/identity/user.js';
import { KubegateError, type ErrorCode } from '../../src/errors/errors.js';

const ISSUER = 'https://issuer.example.com';

/** The `oidc:` settings this file varies, plus `identity.allowSystemNames`. */
type ClaimMapping = Omit<OidcSection, 'clientId' | 'requiredClaims'> & { allowSystemNames: boolean };

/** Claims → the user, as kubegate maps them for an `oidc:` configuration with `m`'s settings. */
function mapClaims(claims: Claims, m: ClaimMapping): UserInfo {
  const { allowSystemNames, ...oidc } = m;
  const [issuer] = loadIssuers({
    oidc: { ...oidc, clientId: 'kubernetes', requiredClaims: {}, signingAlgs: ['RS256'], clockSkewSeconds: 10 },
    authentication: {},
    identity: { allowSystemNames },
  });
  return mapStructuredClaims(claims, issuer!.rules);
}

const base: ClaimMapping = {
  issuerUrl: ISSUER,
  usernameClaim: 'sub',
  groupsPrefix: '',
  extraClaims: {},
  allowSystemNames: false,
};

type Expect = { user: UserInfo } | { code: ErrorCode; claim?: string; name?: string; rule?: string };

// [name, claims, mapping overrides, expected]
type Case = [string, Claims, Partial<ClaimMapping>, Expect];

const user = (username: string, groups: string[] = [], extra: Record<string, string[]> = {}, uid?: string): { user: UserInfo } => ({
  user: uid === undefined ? { username, groups, extra } : { username, uid, groups, extra },
});

const cases: Case[] = [
  // --- username and its prefix (kube-apiserver --oidc-username-claim / --oidc-username-prefix)
  ['sub gets the default <issuer># prefix', { sub: 'alice' }, {}, user(`${ISSUER}#alice`)],
  ['issuer with a path is used verbatim in the prefix', { sub: 'alice' }, { issuerUrl: `${ISSUER}/realms/k8s` }, user(`${ISSUER}/realms/k8s#alice`)],
  ['other non-email claim gets the default prefix', { preferred_username: 'alice' }, { usernameClaim: 'preferred_username' }, user(`${ISSUER}#alice`)],
  ['email claim gets no default prefix', { email: 'alice@example.com' }, { usernameClaim: 'email' }, user('alice@example.com')],
  ['"-" disables the prefix', { sub: 'alice' }, { usernamePrefix: '-' }, user('alice')],
  ['"-" with email', { email: 'alice@example.com' }, { usernameClaim: 'email', usernamePrefix: '-' }, user('alice@example.com')],
  ['explicit prefix', { sub: 'alice' }, { usernamePrefix: 'oidc:' }, user('oidc:alice')],
  ['explicit prefix also applies to email', { email: 'alice@example.com' }, { usernameClaim: 'email', usernamePrefix: 'corp:' }, user('corp:alice@example.com')],

  // --- email_verified (only checked when the username claim is email)
  ['email_verified true', { email: 'a@example.com', email_verified: true }, { usernameClaim: 'email' }, user('a@example.com')],
  ['email_verified absent is accepted', { email: 'a@example.com' }, { usernameClaim: 'email' }, user('a@example.com')],
  ['email_verified false', { email: 'a@example.com', email_verified: false }, { usernameClaim: 'email' }, { code: 'AUTHN_CLAIMS', claim: 'email_verified' }],
  ['email_verified "true" (string)', { email: 'a@example.com', email_verified: 'true' }, { usernameClaim: 'email' }, { code: 'AUTHN_CLAIMS', claim: 'email_verified' }],
  ['email_verified 1', { email: 'a@example.com', email_verified: 1 }, { usernameClaim: 'email' }, { code: 'AUTHN_CLAIMS', claim: 'email_verified' }],
  ['email_verified null', { email: 'a@example.com', email_verified: null }, { usernameClaim: 'email' }, { code: 'AUTHN_CLAIMS', claim: 'email_verified' }],
  ['email_verified false is irrelevant when the username claim is sub', { sub: 'alice', email: 'a@example.com', email_verified: false }, {}, user(`${ISSUER}#alice`)],

  // --- username claim missing or malformed
  ['username claim missing', { email: 'a@example.com' }, {}, { code: 'AUTHN_CLAIMS', claim: 'sub' }],
  ['username claim empty', { sub: '' }, {}, { code: 'AUTHN_CLAIMS', claim: 'sub' }],
  ['username claim a number', { sub: 42 }, {}, { code: 'AUTHN_CLAIMS', claim: 'sub' }],
  ['username claim an array', { sub: ['alice'] }, {}, { code: 'AUTHN_CLAIMS', claim: 'sub' }],
  ['username claim null', { sub: null }, {}, { code: 'AUTHN_CLAIMS', claim: 'sub' }],
  ['configured username claim missing (sub present)', { sub: 'alice' }, { usernameClaim: 'email' }, { code: 'AUTHN_CLAIMS', claim: 'email' }],

  // --- groups
  ['groups as an array', { sub: 'alice', groups: ['dev', 'ops'] }, { groupsClaim: 'groups' }, user(`${ISSUER}#alice`, ['dev', 'ops'])],
  ['groups as a single string', { sub: 'alice', groups: 'dev' }, { groupsClaim: 'groups' }, user(`${ISSUER}#alice`, ['dev'])],
  ['groups claim missing', { sub: 'alice' }, { groupsClaim: 'groups' }, user(`${ISSUER}#alice`, [])],
  ['groups as an empty array', { sub: 'alice', groups: [] }, { groupsClaim: 'groups' }, user(`${ISSUER}#alice`, [])],
  ['groups ignored without groupsClaim', { sub: 'alice', groups: ['dev'] }, {}, user(`${ISSUER}#alice`, [])],
  ['groups as a number', { sub: 'alice', groups: 7 }, { groupsClaim: 'groups' }, { code: 'AUTHN_CLAIMS', claim: 'groups' }],
  ['groups as a mixed array', { sub: 'alice', groups: ['dev', 7] }, { groupsClaim: 'groups' }, { code: 'AUTHN_CLAIMS', claim: 'groups' }],
  ['groups as an array of arrays', { sub: 'alice', groups: [['dev']] }, { groupsClaim: 'groups' }, { code: 'AUTHN_CLAIMS', claim: 'groups' }],
  ['groups as an object', { sub: 'alice', groups: { dev: true } }, { groupsClaim: 'groups' }, { code: 'AUTHN_CLAIMS', claim: 'groups' }],
  ['groups prefix on each group', { sub: 'alice', groups: ['dev', 'ops'] }, { groupsClaim: 'groups', groupsPrefix: 'oidc:' }, user(`${ISSUER}#alice`, ['oidc:dev', 'oidc:ops'])],
  ['groups prefix on a string group', { sub: 'alice', roles: 'admin' }, { groupsClaim: 'roles', groupsPrefix: 'oidc:' }, user(`${ISSUER}#alice`, ['oidc:admin'])],

  // --- uid
  ['uid claim', { sub: 'alice', oid: '6a2f-11' }, { uidClaim: 'oid' }, user(`${ISSUER}#alice`, [], {}, '6a2f-11')],
  ['uid claim missing', { sub: 'alice' }, { uidClaim: 'oid' }, { code: 'AUTHN_CLAIMS', claim: 'oid' }],
  ['uid claim not a string', { sub: 'alice', oid: 12 }, { uidClaim: 'oid' }, { code: 'AUTHN_CLAIMS', claim: 'oid' }],
  ['uid claim empty', { sub: 'alice', oid: '' }, { uidClaim: 'oid' }, { code: 'AUTHN_CLAIMS', claim: 'oid' }],

  // --- extra
  [
    'extra from a string and from an array',
    { sub: 'alice', scp: 'read write', acr: ['mfa', 'hwk'] },
    { extraClaims: { 'example.com/scopes': 'scp', 'example.com/acr': 'acr' } },
    user(`${ISSUER}#alice`, [], { 'example.com/scopes': ['read write'], 'example.com/acr': ['mfa', 'hwk'] }),
  ],
  ['extra claim missing is omitted', { sub: 'alice' }, { extraClaims: { scopes: 'scp' } }, user(`${ISSUER}#alice`)],
  ['extra claim empty array is omitted', { sub: 'alice', scp: [] }, { extraClaims: { scopes: 'scp' } }, user(`${ISSUER}#alice`)],
  // An extra claim becomes a CEL valueExpression in the equivalent AuthenticationConfiguration: the refusal
  // names that rule (the claim is in it: claims[?'scp'].orValue('')).
  ['extra claim a number', { sub: 'alice', scp: 3 }, { extraClaims: { scopes: 'scp' } }, { code: 'AUTHN_CLAIMS', rule: 'claimMappings.extra[0]' }],
  ['extra claim a mixed array', { sub: 'alice', scp: ['a', false] }, { extraClaims: { scopes: 'scp' } }, { code: 'AUTHN_CLAIMS', rule: 'claimMappings.extra[0]' }],

  // --- reserved system: names
  ['system:admin username with prefix "-"', { sub: 'system:admin' }, { usernamePrefix: '-' }, { code: 'IDENTITY_RESERVED', name: 'system:admin' }],
  ['system: email username (no default prefix)', { email: 'system:kube-controller-manager' }, { usernameClaim: 'email' }, { code: 'IDENTITY_RESERVED', name: 'system:kube-controller-manager' }],
  ['explicit prefix system:', { sub: 'alice' }, { usernamePrefix: 'system:' }, { code: 'IDENTITY_RESERVED', name: 'system:alice' }],
  ['system:admin under the default prefix is not reserved', { sub: 'system:admin' }, {}, user(`${ISSUER}#system:admin`)],
  ['group system:masters', { sub: 'alice', groups: ['dev', 'system:masters'] }, { groupsClaim: 'groups' }, { code: 'IDENTITY_RESERVED', name: 'system:masters' }],
  ['string group system:masters', { sub: 'alice', groups: 'system:masters' }, { groupsClaim: 'groups' }, { code: 'IDENTITY_RESERVED', name: 'system:masters' }],
  ['groups prefix system:', { sub: 'alice', groups: ['dev'] }, { groupsClaim: 'groups', groupsPrefix: 'system:' }, { code: 'IDENTITY_RESERVED', name: 'system:dev' }],
  ['system:masters under a groups prefix is not reserved', { sub: 'alice', groups: ['system:masters'] }, { groupsClaim: 'groups', groupsPrefix: 'oidc:' }, user(`${ISSUER}#alice`, ['oidc:system:masters'])],
  ['System:masters (other case) is not the reserved prefix', { sub: 'alice', groups: ['System:masters'] }, { groupsClaim: 'groups' }, user(`${ISSUER}#alice`, ['System:masters'])],
  ['system:admin allowed with allowSystemNames', { sub: 'system:admin' }, { usernamePrefix: '-', allowSystemNames: true }, user('system:admin')],
  [
    'system:masters allowed with allowSystemNames',
    { sub: 'alice', groups: ['system:masters'] },
    { groupsClaim: 'groups', allowSystemNames: true },
    user(`${ISSUER}#alice`, ['system:masters']),
  ],
  // a malformed claim is a 401 even when the name would also be reserved
  ['malformed groups win over a reserved username', { sub: 'system:admin', groups: 1 }, { usernamePrefix: '-', groupsClaim: 'groups' }, { code: 'AUTHN_CLAIMS', claim: 'groups' }],
];

for (const [name, claims, overrides, expected] of cases) {
  t.test(name, async (t) => {
    const mapping: ClaimMapping = { ...base, ...overrides };
    if ('user' in expected) {
      t.strictSame(mapClaims(claims, mapping), expected.user);
      return;
    }
    let thrown: unknown;
    try {
      mapClaims(claims, mapping);
    } catch (err) {
      thrown = err;
    }
    t.type(thrown, KubegateError);
    if (!(thrown instanceof KubegateError)) return;
    t.equal(thrown.code, expected.code);
    t.equal(thrown.status, expected.code === 'AUTHN_CLAIMS' ? 401 : 403);
    if (expected.claim !== undefined) t.equal(thrown.details.claim, expected.claim, 'details name the claim');
    if (expected.name !== undefined) t.equal(thrown.details.name, expected.name, 'details name the reserved name');
    if (expected.rule !== undefined) t.equal(thrown.details.rule, expected.rule, 'details name the rule');
  });
}

t.test('the mapped user does not alias the claims', async (t) => {
  const groups = ['dev'];
  const u = mapClaims({ sub: 'alice', groups }, { ...base, groupsClaim: 'groups', groupsPrefix: 'p:' });
  groups.push('system:masters');
  t.strictSame(u.groups, ['p:dev']);
});

t.test('kube-apiserver: an explicitly empty username prefix behaves like an unset one', async (t) => {
  // kube-apiserver (pkg/kubeapiserver/options/authentication.go):
  //   if o.OIDC.UsernamePrefix == "" && o.OIDC.UsernameClaim != "email" { usernamePrefix = o.OIDC.IssuerURL + "#" }
  t.equal(mapClaims({ sub: 'admin' }, { ...base, usernamePrefix: '' }).username, `${ISSUER}#admin`, 'sub gets <issuer>#');
  t.equal(mapClaims({ email: 'a@example.com' }, { ...base, usernameClaim: 'email', usernamePrefix: '' }).username, 'a@example.com', 'email stays unprefixed');
});
