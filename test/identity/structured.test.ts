/**
 * Claims → user with an AuthenticationConfiguration's rules, as kube-apiserver maps them: the examples of
 * the Kubernetes documentation (same claims in, same user out, same refusals), CEL group mapping with a
 * prefix, extras, optional claims, user validation refusing system: names, and kubegate's own system: rule.
 */
import t from 'tap';
import { parseAuthenticationConfiguration } from '../../src/authn/auth-config.js';
import { mapStructuredClaims, type ClaimRules } from '../../src/identity/structured.js';

const rulesOf = (yaml: string, allowSystemNames = false): ClaimRules => {
  const r = parseAuthenticationConfiguration(`apiVersion: apiserver.config.k8s.io/v1\nkind: AuthenticationConfiguration\n${yaml}`, { allowSystemNames });
  if (!r.ok) throw new Error(r.issues.join('\n'));
  return r.issuers[0]!.rules;
};
const outcome = (claims: Record<string, unknown>, rules: ClaimRules) => {
  try {
    return { user: mapStructuredClaims(claims, rules) };
  } catch (err) {
    const e = err as { code: string; message: string };
    return { code: e.code, message: e.message };
  }
};

// The token payload of the documentation's examples.
const DOC_CLAIMS = {
  aud: 'kubernetes',
  exp: 1703232949,
  iat: 1701107233,
  iss: 'https://example.com',
  jti: '7c337942807e73caa2c30c868ac0ce910bce02ddcbfebe8c23b8b5f27ad62873',
  nbf: 1701107233,
  roles: 'user,admin',
  sub: 'auth',
  tid: 'c8abc4a3-4b5c-4a6d-8c7e-9b2c3d4e5f6a',
  username: 'foo',
};
const DOC_ISSUER = `jwt:
- issuer:
    url: https://example.com
    audiences:
    - kubernetes
`;

t.test('documentation: a valid token with claim mappings', async (t) => {
  const rules = rulesOf(`${DOC_ISSUER}  claimMappings:
    username:
      expression: 'claims.username + ":external-user"'
    groups:
      expression: 'claims.roles.split(",")'
    uid:
      expression: 'claims.sub'
    extra:
    - key: 'example.com/tenant'
      valueExpression: 'claims.tid'
`);
  t.same(outcome(DOC_CLAIMS, rules), {
    user: { username: 'foo:external-user', uid: 'auth', groups: ['user', 'admin'], extra: { 'example.com/tenant': ['c8abc4a3-4b5c-4a6d-8c7e-9b2c3d4e5f6a'] } },
  });
});

t.test('documentation: a token failing claim validation (lifetime over 24 h)', async (t) => {
  const rules = rulesOf(`${DOC_ISSUER}  claimValidationRules:
  - expression: 'claims.exp - claims.nbf <= 86400'
    message: total token lifetime must not exceed 24 hours
  claimMappings:
    username:
      expression: 'claims.username + ":external-user"'
`);
  t.match(outcome(DOC_CLAIMS, rules), { code: 'AUTHN_CLAIMS', message: 'claim validation failed: total token lifetime must not exceed 24 hours' });
  t.match(outcome({ ...DOC_CLAIMS, exp: DOC_CLAIMS.nbf + 3600 }, rules), { user: { username: 'foo:external-user' } }, 'a one-hour token passes');
});

t.test('documentation: a token failing user validation (system: username)', async (t) => {
  const rules = rulesOf(`${DOC_ISSUER}  claimMappings:
    username:
      expression: 'claims.username'
    groups:
      expression: 'claims.roles.split(",")'
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: 'username cannot used reserved system: prefix'
  - expression: "user.groups.all(group, !group.startsWith('system:'))"
    message: 'groups cannot used reserved system: prefix'
`, true);
  t.match(outcome({ ...DOC_CLAIMS, username: 'system:foo' }, rules), { code: 'AUTHN_CLAIMS', message: 'user validation failed: username cannot used reserved system: prefix' });
  t.match(outcome({ ...DOC_CLAIMS, roles: 'user,system:masters' }, rules), { code: 'AUTHN_CLAIMS', message: 'user validation failed: groups cannot used reserved system: prefix' });
  t.same(outcome(DOC_CLAIMS, rules), { user: { username: 'foo', groups: ['user', 'admin'], extra: {} } });
});

t.test('documentation: claim and requiredValue, hd check by expression', async (t) => {
  const rules = rulesOf(`${DOC_ISSUER}  claimValidationRules:
  - claim: hd
    requiredValue: example.com
  - expression: 'claims.hd == "example.com"'
    message: the hd claim must be set to example.com
  claimMappings:
    username:
      claim: sub
      prefix: ""
    groups:
      claim: sub
      prefix: ""
    uid:
      claim: sub
`);
  t.same(outcome({ ...DOC_CLAIMS, hd: 'example.com' }, rules), { user: { username: 'auth', uid: 'auth', groups: ['auth'], extra: {} } });
  t.match(outcome({ ...DOC_CLAIMS, hd: 'evil.com' }, rules), { code: 'AUTHN_CLAIMS', message: 'required claim "hd" is missing or has another value' });
  t.match(outcome(DOC_CLAIMS, rules), { code: 'AUTHN_CLAIMS', message: /required claim "hd"/ });
});

t.test('CEL group mapping with a prefix, extras, optional claims', async (t) => {
  const rules = rulesOf(`jwt:
- issuer: {url: 'https://idp.example.com', audiences: [kubegate]}
  claimValidationRules:
  - expression: 'claims.?email_verified.orValue(false)'
    message: email must be verified
  claimMappings:
    username:
      expression: '"corp:" + claims.email'
    groups:
      expression: 'claims.?groups.orValue([]).filter(g, !g.startsWith("temp-")).map(g, "corp:" + g)'
    uid:
      expression: 'claims.?oid.orValue("")'
    extra:
    - key: corp.example.com/department
      valueExpression: 'claims.?department.orValue("")'
    - key: corp.example.com/amr
      valueExpression: 'claims.?amr.orValue([])'
`);
  t.same(outcome({ email: 'alice@example.com', email_verified: true, groups: ['dev', 'temp-x', 'ops'], department: 'R&D', amr: ['pwd', 'mfa'], oid: 'u-1' }, rules), {
    user: { username: 'corp:alice@example.com', uid: 'u-1', groups: ['corp:dev', 'corp:ops'], extra: { 'corp.example.com/department': ['R&D'], 'corp.example.com/amr': ['pwd', 'mfa'] } },
  });
  t.same(outcome({ email: 'bob@example.com', email_verified: true }, rules), { user: { username: 'corp:bob@example.com', groups: [], extra: {} } }, "absent groups/uid/extras: '' / [] mean absent");
  t.match(outcome({ email: 'x@example.com', email_verified: true, oid: 5 }, rules), { code: 'AUTHN_CLAIMS', message: 'claimMappings.uid.expression did not give a string' }, 'a uid must be a string (kube-apiserver)');
  t.match(outcome({ email: 'eve@example.com', email_verified: false }, rules), { code: 'AUTHN_CLAIMS', message: 'claim validation failed: email must be verified' });
  t.match(outcome({ email: 'eve@example.com' }, rules), { code: 'AUTHN_CLAIMS' }, 'email_verified absent: refused');
  t.match(outcome({ email: 'x@example.com', email_verified: true, groups: 'not-a-list' }, rules), { code: 'AUTHN_CLAIMS', message: /claimMappings\.groups: expression .* failed/ });
  t.match(outcome({ email: 'x@example.com', email_verified: true, department: 7 }, rules), { code: 'AUTHN_CLAIMS', message: 'claimMappings.extra[0].valueExpression did not give a string or a list of strings' });
});

t.test('a claim an expression reads but the token lacks: refused with the reason', async (t) => {
  const rules = rulesOf(`jwt:
- issuer: {url: 'https://idp.example.com', audiences: [kubegate]}
  claimMappings:
    username: {expression: 'claims.preferred_username'}
`);
  t.match(outcome({ sub: 'x' }, rules), { code: 'AUTHN_CLAIMS', message: /claimMappings\.username: expression "claims\.preferred_username" failed: No such key: preferred_username/ });
  t.match(outcome({ preferred_username: '' }, rules), { code: 'AUTHN_CLAIMS', message: 'claimMappings.username.expression did not give a non-empty string' });
});

t.test('claim mapping by name: email must be verified when email_verified is present (as kube-apiserver)', async (t) => {
  const rules = rulesOf(`jwt:
- issuer: {url: 'https://idp.example.com', audiences: [kubegate]}
  claimMappings:
    username: {claim: email, prefix: ''}
    groups: {claim: groups, prefix: 'oidc:'}
`);
  t.same(outcome({ email: 'a@example.com', groups: ['x'] }, rules), { user: { username: 'a@example.com', groups: ['oidc:x'], extra: {} } });
  t.match(outcome({ email: 'a@example.com', email_verified: false }, rules), { code: 'AUTHN_CLAIMS', message: 'email_verified claim is present but not true' });
});

t.test('system: names: refused by kubegate (403) unless allowSystemNames', async (t) => {
  const yaml = `jwt:
- issuer: {url: 'https://idp.example.com', audiences: [kubegate]}
  claimMappings:
    username: {claim: sub, prefix: ''}
    groups: {expression: 'claims.?groups.orValue([])'}
`;
  t.match(outcome({ sub: 'a', groups: ['system:masters'] }, rulesOf(yaml)), { code: 'IDENTITY_RESERVED' });
  t.match(outcome({ sub: 'system:admin' }, rulesOf(yaml)), { code: 'IDENTITY_RESERVED' });
  t.same(outcome({ sub: 'a', groups: ['system:masters'] }, rulesOf(yaml, true)), { user: { username: 'a', groups: ['system:masters'], extra: {} } });
});
