/**
 * The AuthenticationConfiguration validator, rule by rule against kube-apiserver's: each bad document is
 * refused with an issue naming the field; the valid shapes (v1, v1beta1, the documentation's full example)
 * resolve; the --oidc-* settings become the equivalent one-issuer document.
 */
import t from 'tap';
import YAML from 'yaml';
import { authenticationConfigurationFromOidc, parseAuthenticationConfiguration, resolveAuthenticationConfiguration } from '../../src/authn/auth-config.js';
import { createPki } from '../support/pki.js';

const opts = { allowSystemNames: false };
const jwt = (over: Record<string, unknown> = {}) => ({
  issuer: { url: 'https://issuer.example.com', audiences: ['kubegate'] },
  claimMappings: { username: { claim: 'sub', prefix: 'oidc:' } },
  ...over,
});
const doc = (...entries: unknown[]) => ({ apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AuthenticationConfiguration', jwt: entries });
const issuesOf = (d: unknown) => {
  const r = resolveAuthenticationConfiguration(d, opts);
  return r.ok ? [] : r.issues;
};

t.test('valid documents resolve: v1, v1beta1, the documentation example', async (t) => {
  for (const apiVersion of ['apiserver.config.k8s.io/v1', 'apiserver.config.k8s.io/v1beta1']) {
    const r = resolveAuthenticationConfiguration({ ...doc(jwt()), apiVersion }, opts);
    t.ok(r.ok, apiVersion);
    if (r.ok) {
      t.equal(r.issuers[0]!.discoveryUrl, 'https://issuer.example.com/.well-known/openid-configuration', 'discovery defaults to the well-known path');
      t.same(r.issuers[0]!.signingAlgs, ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512']);
    }
  }
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  // https://kubernetes.io/docs/reference/access-authn-authz/authentication/#using-authentication-configuration
  const text = `
apiVersion: apiserver.config.k8s.io/v1beta1
kind: AuthenticationConfiguration
jwt:
- issuer:
    url: https://example.com
    discoveryURL: https://discovery.example.com/.well-known/openid-configuration
    certificateAuthority: |
${pki.ca.trim().split('\n').map((l) => `      ${l}`).join('\n')}
    audiences:
    - my-app
    - my-other-app
    audienceMatchPolicy: MatchAny
  claimValidationRules:
  - claim: hd
    requiredValue: example.com
  - expression: 'claims.hd == "example.com"'
    message: the hd claim must be set to example.com
  - expression: 'claims.exp - claims.nbf <= 86400'
    message: total token lifetime must not exceed 24 hours
  claimMappings:
    username:
      expression: 'claims.username + ":external-user"'
    groups:
      expression: 'claims.roles.split(",")'
    uid:
      expression: 'claims.sub'
    extra:
    - key: 'example.com/tenant'
      valueExpression: 'claims.tid'
  userValidationRules:
  - expression: "!user.username.startsWith('system:')"
    message: 'username cannot used reserved system: prefix'
  - expression: "user.groups.all(group, !group.startsWith('system:'))"
    message: 'groups cannot used reserved system: prefix'
`;
  const r = parseAuthenticationConfiguration(text, opts);
  t.ok(r.ok, r.ok ? 'the documentation example' : r.issues.join('\n'));
  if (r.ok) {
    t.equal(r.issuers[0]!.discoveryUrl, 'https://discovery.example.com/.well-known/openid-configuration');
    t.same(r.issuers[0]!.audiences, ['my-app', 'my-other-app']);
    t.match(r.issuers[0]!.certificateAuthority, /BEGIN CERTIFICATE/);
  }
});

t.test('every validation rule names its field', async (t) => {
  const cases: [string, unknown, RegExp][] = [
    ['not a mapping', '- jwt', /^\(root\): must be a YAML mapping/],
    ['wrong apiVersion', { ...doc(jwt()), apiVersion: 'apiserver.config.k8s.io/v2' }, /^apiVersion: must be one of apiserver\.config\.k8s\.io\/v1, apiserver\.config\.k8s\.io\/v1beta1/],
    ['wrong kind', { ...doc(jwt()), kind: 'Config' }, /^kind: must be AuthenticationConfiguration/],
    ['unknown top-level field', { ...doc(jwt()), jwts: [] }, /^jwts: unknown field/],
    ['anonymous', { ...doc(jwt()), anonymous: { enabled: true } }, /^anonymous: is not supported by kubegate/],
    ['no jwt', doc(), /^jwt: must list at least one JWT authenticator/],
    ['no issuer', doc({ claimMappings: jwt().claimMappings }), /^jwt\[0\]\.issuer: required/],
    ['no url', doc(jwt({ issuer: { audiences: ['a'] } })), /^jwt\[0\]\.issuer\.url: required/],
    ['http url', doc(jwt({ issuer: { url: 'http://issuer.example.com', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.url: must be an https URL/],
    ['url with query', doc(jwt({ issuer: { url: 'https://issuer.example.com/?a=b', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.url: must not have a query or fragment/],
    ['url with user', doc(jwt({ issuer: { url: 'https://u:p@issuer.example.com', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.url: must not contain a user name/],
    ['discoveryURL http', doc(jwt({ issuer: { url: 'https://i.example.com', discoveryURL: 'http://d.example.com/x', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.discoveryURL: must be an https URL/],
    ['discoveryURL equal to url', doc(jwt({ issuer: { url: 'https://i.example.com', discoveryURL: 'https://i.example.com/', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.discoveryURL: must be different from url/],
    ['discoveryURL without a /.well-known/ path', doc(jwt({ issuer: { url: 'https://i.example.com', discoveryURL: 'https://d.example.com/x', audiences: ['a'] } })), /^jwt\[0\]\.issuer\.discoveryURL: must be the full discovery document URL, with a \/\.well-known\/ path/],
    ['no audiences', doc(jwt({ issuer: { url: 'https://i.example.com' } })), /^jwt\[0\]\.issuer\.audiences: required/],
    ['empty audience', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: [''] } })), /^jwt\[0\]\.issuer\.audiences\[0\]: must be a non-empty string/],
    ['duplicate audience', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: ['a', 'a'], audienceMatchPolicy: 'MatchAny' } })), /^jwt\[0\]\.issuer\.audiences\[1\]: duplicate value "a"/],
    ['several audiences without MatchAny', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: ['a', 'b'] } })), /^jwt\[0\]\.issuer\.audienceMatchPolicy: must be MatchAny for multiple audiences/],
    ['unknown audienceMatchPolicy', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: ['a'], audienceMatchPolicy: 'MatchAll' } })), /^jwt\[0\]\.issuer\.audienceMatchPolicy: must be MatchAny/],
    ['bad certificateAuthority', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: ['a'], certificateAuthority: '/etc/ca.pem' } })), /^jwt\[0\]\.issuer\.certificateAuthority: must hold PEM-encoded CA certificates/],
    ['egressSelectorType', doc(jwt({ issuer: { url: 'https://i.example.com', audiences: ['a'], egressSelectorType: 'cluster' } })), /^jwt\[0\]\.issuer\.egressSelectorType: is not supported/],
    ['duplicate issuer url', doc(jwt(), jwt()), /^jwt\[1\]\.issuer\.url: duplicate value "https:\/\/issuer\.example\.com"/],
    ['duplicate discoveryURL', doc(
      jwt({ issuer: { url: 'https://a.example.com', discoveryURL: 'https://d.example.com/.well-known/openid-configuration', audiences: ['a'] } }),
      jwt({ issuer: { url: 'https://b.example.com', discoveryURL: 'https://d.example.com/.well-known/openid-configuration', audiences: ['a'] } }),
    ), /^jwt\[1\]\.issuer\.discoveryURL: duplicate value/],
    ['claim rule with claim and expression', doc(jwt({ claimValidationRules: [{ claim: 'hd', requiredValue: 'x', expression: 'true' }] })), /^jwt\[0\]\.claimValidationRules\[0\]: claim and expression can't both be set/],
    ['claim rule with neither', doc(jwt({ claimValidationRules: [{ requiredValue: 'x' }] })), /^jwt\[0\]\.claimValidationRules\[0\]: claim or expression is required/],
    ['claim rule with message', doc(jwt({ claimValidationRules: [{ claim: 'hd', requiredValue: 'x', message: 'm' }] })), /^jwt\[0\]\.claimValidationRules\[0\]\.message: can't be set when claim is set/],
    ['expression rule with requiredValue', doc(jwt({ claimValidationRules: [{ expression: 'true', requiredValue: 'x' }] })), /^jwt\[0\]\.claimValidationRules\[0\]\.requiredValue: can't be set when expression is set/],
    ['duplicate claim rule', doc(jwt({ claimValidationRules: [{ claim: 'hd', requiredValue: 'x' }, { claim: 'hd', requiredValue: 'y' }] })), /^jwt\[0\]\.claimValidationRules\[1\]\.claim: duplicate value "hd"/],
    ['claim rule expression not bool', doc(jwt({ claimValidationRules: [{ expression: '"yes"' }] })), /^jwt\[0\]\.claimValidationRules\[0\]\.expression: must evaluate to bool, got string/],
    ['claim rule expression does not compile', doc(jwt({ claimValidationRules: [{ expression: 'claims.x ==' }] })), /^jwt\[0\]\.claimValidationRules\[0\]\.expression: compilation failed/],
    ['no claimMappings', doc({ issuer: jwt().issuer }), /^jwt\[0\]\.claimMappings: required/],
    ['no username mapping', doc(jwt({ claimMappings: { groups: { claim: 'g', prefix: '' } } })), /^jwt\[0\]\.claimMappings\.username: required/],
    ['username claim without prefix', doc(jwt({ claimMappings: { username: { claim: 'sub' } } })), /^jwt\[0\]\.claimMappings\.username\.prefix: required when claim is set/],
    ['username claim and expression', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '', expression: 'claims.sub' } } })), /^jwt\[0\]\.claimMappings\.username: claim and expression can't both be set/],
    ['username neither', doc(jwt({ claimMappings: { username: { prefix: 'x' } } })), /^jwt\[0\]\.claimMappings\.username: claim or expression is required/],
    ['username expression with prefix', doc(jwt({ claimMappings: { username: { expression: 'claims.sub', prefix: 'x' } } })), /^jwt\[0\]\.claimMappings\.username\.prefix: can't be set when expression is set/],
    ['username expression not a string', doc(jwt({ claimMappings: { username: { expression: '1 + 2' } } })), /^jwt\[0\]\.claimMappings\.username\.expression: must evaluate to string, got int/],
    ['groups claim without prefix', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, groups: { claim: 'groups' } } })), /^jwt\[0\]\.claimMappings\.groups\.prefix: required when claim is set/],
    ['groups expression with prefix', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, groups: { expression: 'claims.groups', prefix: 'g:' } } })), /^jwt\[0\]\.claimMappings\.groups\.prefix: can't be set when expression is set/],
    ['uid claim and expression', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, uid: { claim: 'sub', expression: 'claims.sub' } } })), /^jwt\[0\]\.claimMappings\.uid: claim and expression can't both be set/],
    ['uid with prefix', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, uid: { claim: 'sub', prefix: 'x' } } })), /^jwt\[0\]\.claimMappings\.uid\.prefix: unknown field/],
    ['extra without key', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ valueExpression: 'claims.x' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.key: required/],
    ['extra key not domain-prefixed', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'tenant', valueExpression: 'claims.x' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.key: must be a domain-prefixed path/],
    ['extra key upper case', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'example.com/Tenant', valueExpression: 'claims.x' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.key: key must be lowercase/],
    ['extra key under kubernetes.io', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'kubernetes.io/x', valueExpression: 'claims.x' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.key: k8s\.io, kubernetes\.io and their subdomains are reserved/],
    ['extra key under a k8s.io subdomain', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'authentication.k8s.io/x', valueExpression: 'claims.x' }] } })), /reserved for Kubernetes use/],
    ['extra key under kubegate.io', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'kubegate.io/elevation', valueExpression: 'claims.x' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.key: keys under kubegate\.io\/ are set by kubegate itself/],
    ['duplicate extra key', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'example.com/a', valueExpression: 'claims.x' }, { key: 'example.com/a', valueExpression: 'claims.y' }] } })), /^jwt\[0\]\.claimMappings\.extra\[1\]\.key: duplicate value/],
    ['extra without valueExpression', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, extra: [{ key: 'example.com/a' }] } })), /^jwt\[0\]\.claimMappings\.extra\[0\]\.valueExpression: required/],
    ['email without email_verified', doc(jwt({ claimMappings: { username: { expression: 'claims.email' } } })), /^jwt\[0\]\.claimMappings\.username\.expression: claims\.email_verified must be used in claimMappings\.username\.expression or claimMappings\.extra\[\*\]\.valueExpression or claimValidationRules\[\*\]\.expression when claims\.email is used/],
    ['user rule without expression', doc(jwt({ userValidationRules: [{ message: 'm' }] })), /^jwt\[0\]\.userValidationRules\[0\]\.expression: required/],
    ['user rule reading claims', doc(jwt({ userValidationRules: [{ expression: 'claims.sub == "x"' }] })), /^jwt\[0\]\.userValidationRules\[0\]\.expression: compilation failed/],
    ['unknown field in a jwt entry', doc(jwt({ claimMapping: {} })), /^jwt\[0\]\.claimMapping: unknown field/],
    ['a nested macro (no cost bound)', doc(jwt({ claimMappings: { username: { claim: 'sub', prefix: '' }, groups: { expression: 'claims.groups.filter(g, claims.groups.exists(h, h == g))' } } })), /^jwt\[0\]\.claimMappings\.groups\.expression: exists\(\) inside another macro's body is not allowed/],
    ['a backtracking regex', doc(jwt({ claimValidationRules: [{ expression: 'claims.sub.matches("^(a+)+$")' }] })), /^jwt\[0\]\.claimValidationRules\[0\]\.expression: matches\("\^\(a\+\)\+\$"\): a repeated group may not contain/],
    ['a regex from a claim', doc(jwt({ claimValidationRules: [{ expression: 'claims.sub.matches(claims.pattern)' }] })), /matches\(\) takes a literal pattern/],
  ];
  for (const [name, d, expected] of cases) {
    const issues = typeof d === 'string' ? (() => { const r = parseAuthenticationConfiguration(d, opts); return r.ok ? [] : r.issues; })() : issuesOf(d);
    t.ok(issues.some((i) => expected.test(i)), `${name}: ${issues.join(' | ') || '(accepted)'}`);
  }
  // email_verified referenced anywhere listed makes the email username acceptable.
  t.same(issuesOf(doc(jwt({ claimMappings: { username: { expression: 'claims.email_verified ? claims.email : ""' } } }))), []);
  t.same(issuesOf(doc(jwt({ claimMappings: { username: { expression: 'claims.email' } }, claimValidationRules: [{ expression: 'claims.?email_verified.orValue(false)', message: 'unverified' }] }))), []);
  // Every problem at once.
  t.equal(issuesOf(doc(jwt({ issuer: { url: 'http://x' } }), { claimMappings: {} })).length >= 4, true, 'all problems are reported together');
});

t.test('the --oidc-* settings as an AuthenticationConfiguration', async (t) => {
  const d = authenticationConfigurationFromOidc({
    issuerUrl: 'https://login.example.com',
    clientId: 'kubegate',
    usernameClaim: 'sub',
    groupsClaim: 'groups',
    groupsPrefix: 'oidc:',
    extraClaims: { 'example.com/acr': 'acr' },
    requiredClaims: { hd: 'example.com' },
  });
  t.same(d, {
    apiVersion: 'apiserver.config.k8s.io/v1',
    kind: 'AuthenticationConfiguration',
    jwt: [
      {
        issuer: { url: 'https://login.example.com', audiences: ['kubegate'], audienceMatchPolicy: 'MatchAny' },
        claimMappings: {
          username: { claim: 'sub', prefix: 'https://login.example.com#' },
          groups: { claim: 'groups', prefix: 'oidc:' },
          extra: [{ key: 'example.com/acr', valueExpression: "claims[?'acr'].orValue('')" }],
        },
        claimValidationRules: [{ claim: 'hd', requiredValue: 'example.com' }],
      },
    ],
  });
  t.ok(resolveAuthenticationConfiguration(YAML.parse(YAML.stringify(d)), opts).ok, 'what check-config prints is a valid AuthenticationConfiguration');
  const email = authenticationConfigurationFromOidc({ issuerUrl: 'https://l.example.com', clientId: 'k', usernameClaim: 'email', groupsPrefix: '', extraClaims: {}, requiredClaims: {} });
  t.same(email.jwt[0]!.claimMappings.username, { claim: 'email', prefix: '' }, 'email: no prefix, as kube-apiserver');
  const none = authenticationConfigurationFromOidc({ issuerUrl: 'https://l.example.com', clientId: 'k', usernameClaim: 'sub', usernamePrefix: '-', groupsPrefix: '', extraClaims: {}, requiredClaims: {} });
  t.same(none.jwt[0]!.claimMappings.username, { claim: 'sub', prefix: '' }, '"-": no prefix');
});
