/**
 * Kubernetes' structured authentication configuration (`apiserver.config.k8s.io/v1` or `v1beta1`,
 * `kind: AuthenticationConfiguration`), the `jwt[]` part: read, validated with kube-apiserver's rules
 * (every problem at once, each naming its field, e.g. `jwt[0].claimMappings.username.prefix: required when
 * claim is set`), and resolved into per-issuer settings with the CEL expressions compiled.
 *
 * The `--oidc-*` flags / `oidc:` section are turned into the same document ({@link authenticationConfigurationFromOidc})
 * and resolved the same way: one authenticator, two ways to configure it. Pure: no file is read here
 * (the caller passes PEM contents), nothing is fetched.
 */
import { X509Certificate } from 'node:crypto';
import YAML from 'yaml';
import { compileCel, type CelVariable, type CompiledExpression } from '../cel/cel.js';
import type { ClaimRules, ClaimValidationRule, ClaimOrExpression, UserValidationRule } from '../identity/structured.js';

/** The API versions accepted for `apiVersion` (kube-apiserver 1.34 serves both). */
export const AUTHENTICATION_CONFIG_API_VERSIONS = ['apiserver.config.k8s.io/v1', 'apiserver.config.k8s.io/v1beta1'] as const;

/** Algorithms accepted with a structured configuration (kube-apiserver: every asymmetric RFC 7518 one). */
export const STRUCTURED_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

// ---- The document, as Kubernetes spells it (what check-config prints). ----
export interface ClaimOrExpressionDoc {
  claim?: string;
  prefix?: string;
  expression?: string;
}
export interface JwtAuthenticatorDoc {
  issuer: { url: string; discoveryURL?: string; audiences: string[]; audienceMatchPolicy?: string; certificateAuthority?: string };
  claimValidationRules?: { claim?: string; requiredValue?: string; expression?: string; message?: string }[];
  claimMappings: {
    username: ClaimOrExpressionDoc;
    groups?: ClaimOrExpressionDoc;
    uid?: { claim?: string; expression?: string };
    extra?: { key: string; valueExpression: string }[];
  };
  userValidationRules?: { expression: string; message?: string }[];
}
export interface AuthenticationConfigurationDoc {
  apiVersion: string;
  kind: 'AuthenticationConfiguration';
  jwt: JwtAuthenticatorDoc[];
}

// ---- Resolved, per issuer. ----
export interface JwtIssuerSettings {
  /** `issuer.url`: must equal the token's `iss`. */
  url: string;
  /** Where discovery is fetched (default `<url>/.well-known/openid-configuration`). */
  discoveryUrl: string;
  audiences: readonly string[];
  /** PEM trusted for the issuer's TLS (discovery and keys); undefined: system roots. */
  certificateAuthority?: string | undefined;
  /** Where `url` is set (`--oidc-issuer-url`, `jwt[0].issuer.url`), named in an issuer-mismatch error. */
  urlSetting?: string | undefined;
  /** The file the CA was read from (the `--oidc-ca-file` case), named in certificate errors. */
  certificateAuthorityFile?: string | undefined;
  signingAlgs: readonly string[];
  clockSkewSeconds: number;
  rules: ClaimRules;
}

export type ResolveResult = { ok: true; issuers: readonly JwtIssuerSettings[] } | { ok: false; issues: string[] };

export interface ResolveOptions {
  allowSystemNames: boolean;
  /** Accepted algorithms (the `--oidc-signing-algs` case); default {@link STRUCTURED_SIGNING_ALGS}. */
  signingAlgs?: readonly string[] | undefined;
  clockSkewSeconds?: number | undefined;
  /**
   * The `--oidc-extra-claim`-style keys of the `oidc:` section need not be domain-prefixed (kubegate
   * accepted `scopes` before); only the Kubernetes format requires it.
   */
  legacyExtraKeys?: boolean | undefined;
}

/** Parse YAML (or JSON) text and resolve it; a YAML error is one issue. */
export function parseAuthenticationConfiguration(text: string, opts: ResolveOptions): ResolveResult {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (err) {
    return { ok: false, issues: [`not valid YAML: ${(err as Error).message.split('\n')[0]}`] };
  }
  return resolveAuthenticationConfiguration(doc, opts);
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Validate a parsed document as kube-apiserver does and compile its expressions. */
export function resolveAuthenticationConfiguration(doc: unknown, opts: ResolveOptions): ResolveResult {
  const issues: string[] = [];
  const add = (path: string, message: string) => issues.push(`${path}: ${message}`);
  if (!isObj(doc)) return { ok: false, issues: ['(root): must be a YAML mapping (an AuthenticationConfiguration)'] };
  unknownFields(doc, ['apiVersion', 'kind', 'jwt', 'anonymous'], '', add);
  if (!(AUTHENTICATION_CONFIG_API_VERSIONS as readonly unknown[]).includes(doc.apiVersion)) {
    add('apiVersion', `must be one of ${AUTHENTICATION_CONFIG_API_VERSIONS.join(', ')}, got ${JSON.stringify(doc.apiVersion ?? null)}`);
  }
  if (doc.kind !== 'AuthenticationConfiguration') add('kind', `must be AuthenticationConfiguration, got ${JSON.stringify(doc.kind ?? null)}`);
  if (doc.anonymous !== undefined) add('anonymous', 'is not supported by kubegate: it never forwards a request without a verified identity');
  const jwt = doc.jwt;
  if (!Array.isArray(jwt) || jwt.length === 0) {
    add('jwt', 'must list at least one JWT authenticator');
    return { ok: false, issues };
  }
  const issuers: JwtIssuerSettings[] = [];
  const urls = new Map<string, number>();
  const discoveryUrls = new Map<string, number>();
  jwt.forEach((entry, i) => {
    const resolved = resolveJwt(entry, `jwt[${i}]`, opts, add);
    const url = isObj(entry) && isObj(entry.issuer) ? entry.issuer.url : undefined;
    if (typeof url === 'string' && url !== '') {
      if (urls.has(url)) add(`jwt[${i}].issuer.url`, `duplicate value ${JSON.stringify(url)} (also jwt[${urls.get(url)}]): each issuer URL may be configured once`);
      else urls.set(url, i);
    }
    const discovery = isObj(entry) && isObj(entry.issuer) ? entry.issuer.discoveryURL : undefined;
    if (typeof discovery === 'string' && discovery !== '') {
      if (discoveryUrls.has(discovery)) add(`jwt[${i}].issuer.discoveryURL`, `duplicate value ${JSON.stringify(discovery)} (also jwt[${discoveryUrls.get(discovery)}])`);
      else discoveryUrls.set(discovery, i);
    }
    if (resolved) issuers.push(resolved);
  });
  return issues.length > 0 ? { ok: false, issues } : { ok: true, issuers: Object.freeze(issuers) };
}

type Add = (path: string, message: string) => void;

function unknownFields(o: Obj, known: readonly string[], path: string, add: Add): void {
  for (const k of Object.keys(o)) if (!known.includes(k)) add(path ? `${path}.${k}` : k, 'unknown field');
}

function str(o: Obj, key: string, path: string, add: Add): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') {
    add(`${path}.${key}`, `must be a string, got ${JSON.stringify(v)}`);
    return undefined;
  }
  return v;
}

function urlProblem(value: string): string | undefined {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    return `must be an https URL, got ${JSON.stringify(value)}`;
  }
  if (u.protocol !== 'https:') return `must be an https URL, got ${JSON.stringify(value)}`;
  if (u.username || u.password) return 'must not contain a user name or password';
  if (u.search || u.hash || value.includes('?') || value.includes('#')) return 'must not have a query or fragment';
  return undefined;
}

function resolveJwt(entry: unknown, path: string, opts: ResolveOptions, outer: Add): JwtIssuerSettings | undefined {
  let problems = 0;
  const add: Add = (p, m) => {
    problems++;
    outer(p, m);
  };
  if (!isObj(entry)) {
    add(path, 'must be a mapping');
    return undefined;
  }
  unknownFields(entry, ['issuer', 'claimValidationRules', 'claimMappings', 'userValidationRules'], path, add);
  // issuer
  const issuer = isObj(entry.issuer) ? entry.issuer : undefined;
  if (issuer === undefined) add(`${path}.issuer`, 'required');
  let url: string | undefined;
  let discoveryUrl: string | undefined;
  let audiences: string[] = [];
  let ca: string | undefined;
  if (issuer) {
    const ip = `${path}.issuer`;
    unknownFields(issuer, ['url', 'discoveryURL', 'audiences', 'audienceMatchPolicy', 'certificateAuthority', 'egressSelectorType'], ip, add);
    if (issuer.egressSelectorType !== undefined) add(`${ip}.egressSelectorType`, 'is not supported by kubegate (it has no egress selector); remove it');
    url = str(issuer, 'url', ip, add);
    if (url === undefined || url === '') add(`${ip}.url`, 'required');
    else {
      const p = urlProblem(url);
      if (p) add(`${ip}.url`, p);
    }
    discoveryUrl = str(issuer, 'discoveryURL', ip, add);
    if (discoveryUrl !== undefined && discoveryUrl !== '') {
      const p = urlProblem(discoveryUrl);
      if (p) add(`${ip}.discoveryURL`, p);
      if (url !== undefined && stripSlash(discoveryUrl) === stripSlash(url)) add(`${ip}.discoveryURL`, 'must be different from url');
      // openid-client fetches a discovery URL as given only when its path has /.well-known/ (else it appends one).
      if (!p && !new URL(discoveryUrl).pathname.includes('/.well-known/')) add(`${ip}.discoveryURL`, 'must be the full discovery document URL, with a /.well-known/ path (e.g. https://idp.example.com/tenant/.well-known/openid-configuration)');
    }
    const rawAud = issuer.audiences;
    if (!Array.isArray(rawAud) || rawAud.length === 0) add(`${ip}.audiences`, 'required: at least one audience');
    else {
      const seen = new Set<string>();
      rawAud.forEach((a, j) => {
        if (typeof a !== 'string' || a === '') add(`${ip}.audiences[${j}]`, 'must be a non-empty string');
        else if (seen.has(a)) add(`${ip}.audiences[${j}]`, `duplicate value ${JSON.stringify(a)}`);
        else seen.add(a);
      });
      audiences = [...seen];
    }
    const policy = str(issuer, 'audienceMatchPolicy', ip, add);
    if (policy !== undefined && policy !== '' && policy !== 'MatchAny') add(`${ip}.audienceMatchPolicy`, `must be MatchAny, got ${JSON.stringify(policy)}`);
    if (Array.isArray(rawAud) && rawAud.length > 1 && policy !== 'MatchAny') add(`${ip}.audienceMatchPolicy`, 'must be MatchAny for multiple audiences');
    ca = str(issuer, 'certificateAuthority', ip, add);
    if (ca !== undefined) {
      const p = pemProblem(ca);
      if (p) add(`${ip}.certificateAuthority`, p);
    }
  }

  // claimValidationRules
  const claimValidationRules: ClaimValidationRule[] = [];
  const cvr = entry.claimValidationRules;
  const cvrExpressions: string[] = [];
  if (cvr !== undefined && !Array.isArray(cvr)) add(`${path}.claimValidationRules`, 'must be a list');
  if (Array.isArray(cvr)) {
    const claims = new Set<string>();
    cvr.forEach((r, j) => {
      const rp = `${path}.claimValidationRules[${j}]`;
      if (!isObj(r)) return add(rp, 'must be a mapping');
      unknownFields(r, ['claim', 'requiredValue', 'expression', 'message'], rp, add);
      const claim = str(r, 'claim', rp, add);
      const requiredValue = str(r, 'requiredValue', rp, add);
      const expression = str(r, 'expression', rp, add);
      const message = str(r, 'message', rp, add);
      if (claim && expression) return add(rp, 'claim and expression can\'t both be set');
      if (!claim && !expression) return add(rp, 'claim or expression is required');
      if (claim) {
        if (message !== undefined) add(`${rp}.message`, 'can\'t be set when claim is set');
        if (claims.has(claim)) add(`${rp}.claim`, `duplicate value ${JSON.stringify(claim)}`);
        claims.add(claim);
        claimValidationRules.push({ claim, requiredValue: requiredValue ?? '' });
      } else {
        if (requiredValue !== undefined) add(`${rp}.requiredValue`, 'can\'t be set when expression is set');
        cvrExpressions.push(expression!);
        const c = compile(expression!, 'claims', ['bool'], `${rp}.expression`, add);
        if (c) claimValidationRules.push({ expression: c, message });
      }
    });
  }

  // claimMappings
  const cm = isObj(entry.claimMappings) ? entry.claimMappings : undefined;
  let username: ClaimOrExpression | undefined;
  let groups: ClaimOrExpression | undefined;
  let uid: ClaimOrExpression<false> | undefined;
  const extra: { key: string; valueExpression: CompiledExpression }[] = [];
  const extraExpressions: string[] = [];
  let usernameExpression: string | undefined;
  if (cm === undefined) add(`${path}.claimMappings`, 'required: claimMappings.username must be set');
  else {
    const mp = `${path}.claimMappings`;
    unknownFields(cm, ['username', 'groups', 'uid', 'extra'], mp, add);
    if (!isObj(cm.username)) add(`${mp}.username`, 'required: claim or expression must be set');
    else {
      username = claimOrExpression(cm.username, `${mp}.username`, true, ['string'], add);
      usernameExpression = typeof cm.username.expression === 'string' ? cm.username.expression : undefined;
    }
    if (cm.groups !== undefined) {
      if (!isObj(cm.groups)) add(`${mp}.groups`, 'must be a mapping');
      else if (cm.groups.claim !== undefined || cm.groups.expression !== undefined || cm.groups.prefix !== undefined) {
        groups = claimOrExpression(cm.groups, `${mp}.groups`, true, ['string', 'list<string>', 'list'], add);
      }
    }
    if (cm.uid !== undefined) {
      if (!isObj(cm.uid)) add(`${mp}.uid`, 'must be a mapping');
      else if (cm.uid.claim !== undefined || cm.uid.expression !== undefined) uid = claimOrExpression(cm.uid, `${mp}.uid`, false, ['string'], add) as ClaimOrExpression<false> | undefined;
    }
    if (cm.extra !== undefined && !Array.isArray(cm.extra)) add(`${mp}.extra`, 'must be a list');
    if (Array.isArray(cm.extra)) {
      const keys = new Set<string>();
      cm.extra.forEach((e, j) => {
        const ep = `${mp}.extra[${j}]`;
        if (!isObj(e)) return add(ep, 'must be a mapping');
        unknownFields(e, ['key', 'valueExpression'], ep, add);
        const key = str(e, 'key', ep, add);
        if (!key) add(`${ep}.key`, 'required');
        else {
          const p = opts.legacyExtraKeys ? (key.toLowerCase().startsWith('kubegate.io/') ? 'keys under kubegate.io/ are set by kubegate itself' : undefined) : extraKeyProblem(key);
          if (p) add(`${ep}.key`, p);
          if (keys.has(key)) add(`${ep}.key`, `duplicate value ${JSON.stringify(key)}`);
          keys.add(key);
        }
        const ve = str(e, 'valueExpression', ep, add);
        if (!ve) return add(`${ep}.valueExpression`, 'required');
        extraExpressions.push(ve);
        const c = compile(ve, 'claims', ['string', 'list<string>', 'list'], `${ep}.valueExpression`, add);
        if (c && key) extra.push({ key, valueExpression: c });
      });
    }
  }
  // kube-apiserver: an email used in the username must be checked as verified somewhere.
  if (usernameExpression !== undefined && usesClaim(usernameExpression, 'email')) {
    if (![usernameExpression, ...extraExpressions, ...cvrExpressions].some((e) => usesClaim(e, 'email_verified'))) {
      add(`${path}.claimMappings.username.expression`, 'claims.email_verified must be used in claimMappings.username.expression or claimMappings.extra[*].valueExpression or claimValidationRules[*].expression when claims.email is used in claimMappings.username.expression');
    }
  }

  // userValidationRules
  const userValidationRules: UserValidationRule[] = [];
  const uvr = entry.userValidationRules;
  if (uvr !== undefined && !Array.isArray(uvr)) add(`${path}.userValidationRules`, 'must be a list');
  if (Array.isArray(uvr)) {
    uvr.forEach((r, j) => {
      const rp = `${path}.userValidationRules[${j}]`;
      if (!isObj(r)) return add(rp, 'must be a mapping');
      unknownFields(r, ['expression', 'message'], rp, add);
      const expression = str(r, 'expression', rp, add);
      if (!expression) return add(`${rp}.expression`, 'required');
      const c = compile(expression, 'user', ['bool'], `${rp}.expression`, add);
      if (c) userValidationRules.push({ expression: c, message: str(r, 'message', rp, add) });
    });
  }

  if (problems > 0 || url === undefined || username === undefined) return undefined;
  return {
    url,
    discoveryUrl: discoveryUrl || `${stripSlash(url)}/.well-known/openid-configuration`,
    audiences,
    certificateAuthority: ca,
    signingAlgs: opts.signingAlgs ?? STRUCTURED_SIGNING_ALGS,
    clockSkewSeconds: opts.clockSkewSeconds ?? 10,
    rules: Object.freeze({ claimValidationRules, username, groups, uid, extra, userValidationRules, allowSystemNames: opts.allowSystemNames }),
  };
}

function claimOrExpression(o: Obj, path: string, withPrefix: boolean, types: readonly string[], add: Add): ClaimOrExpression | undefined {
  unknownFields(o, withPrefix ? ['claim', 'prefix', 'expression'] : ['claim', 'expression'], path, add);
  const claim = str(o, 'claim', path, add);
  const expression = str(o, 'expression', path, add);
  const prefix = withPrefix ? str(o, 'prefix', path, add) : undefined;
  if (claim && expression) {
    add(path, 'claim and expression can\'t both be set');
    return undefined;
  }
  if (!claim && !expression) {
    add(path, 'claim or expression is required');
    return undefined;
  }
  if (claim) {
    if (withPrefix && prefix === undefined) {
      add(`${path}.prefix`, 'required when claim is set. It can be set to an empty string to disable prefixing');
      return undefined;
    }
    return withPrefix ? { claim, prefix: prefix! } : ({ claim } as unknown as ClaimOrExpression);
  }
  if (prefix !== undefined) {
    add(`${path}.prefix`, 'can\'t be set when expression is set');
    return undefined;
  }
  const c = compile(expression!, 'claims', types, `${path}.expression`, add);
  return c ? { expression: c } : undefined;
}

function compile(source: string, variable: CelVariable, types: readonly string[], path: string, add: Add): CompiledExpression | undefined {
  const r = compileCel(source, variable);
  if (!r.ok) {
    add(path, r.error);
    return undefined;
  }
  if (r.expression.type !== 'dyn' && !types.includes(r.expression.type)) {
    add(path, `must evaluate to ${types.filter((t) => t !== 'list').join(' or ')}, got ${r.expression.type}`);
    return undefined;
  }
  return r.expression;
}

/** kube-apiserver's rules for `extra[].key`: a lowercase, domain-prefixed path outside Kubernetes' own domains. */
export function extraKeyProblem(key: string): string | undefined {
  if (key !== key.toLowerCase()) return 'key must be lowercase';
  const slash = key.indexOf('/');
  if (slash <= 0 || slash === key.length - 1) return 'must be a domain-prefixed path (such as "acme.io/foo")';
  const domain = key.slice(0, slash);
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(domain) || domain.length > 253) {
    return `must be a domain-prefixed path (such as "acme.io/foo"): ${JSON.stringify(domain)} is not a DNS subdomain`;
  }
  for (const reserved of ['kubernetes.io', 'k8s.io']) {
    if (domain === reserved || domain.endsWith(`.${reserved}`)) return 'k8s.io, kubernetes.io and their subdomains are reserved for Kubernetes use';
  }
  if (domain === 'kubegate.io' || domain.endsWith('.kubegate.io')) return 'keys under kubegate.io/ are set by kubegate itself';
  return undefined;
}

/** Whether a CEL expression reads `claims.<name>` (also `claims.?name`, `claims['name']`). */
export function usesClaim(expression: string, name: string): boolean {
  const n = name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`claims\\s*(\\.\\s*\\??\\s*${n}(?![A-Za-z0-9_])|\\[\\s*\\??\\s*(['"])${n}\\2\\s*\\])`).test(expression);
}

function pemProblem(pem: string): string | undefined {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) return 'must hold PEM-encoded CA certificates (-----BEGIN CERTIFICATE-----)';
  for (const [i, b] of blocks.entries()) {
    try {
      new X509Certificate(b);
    } catch (err) {
      return `certificate ${i + 1} cannot be parsed: ${(err as Error).message}`;
    }
  }
  return undefined;
}

const stripSlash = (u: string) => u.replace(/\/+$/, '');

// ---- The one-issuer case: the --oidc-* flags / oidc: section as a document. ----

/** The `oidc:` section's shape (config/schema.ts), structurally. */
export interface OidcSection {
  issuerUrl: string;
  clientId: string;
  usernameClaim: string;
  usernamePrefix?: string | undefined;
  groupsClaim?: string | undefined;
  groupsPrefix: string;
  uidClaim?: string | undefined;
  extraClaims: Readonly<Record<string, string>>;
  requiredClaims: Readonly<Record<string, string>>;
}

/** A CEL string literal. */
const celString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

/**
 * The AuthenticationConfiguration equivalent to kube-apiserver-style `--oidc-*` settings (what a cluster
 * admin would write to migrate): username prefix made explicit (`<issuer>#` unless the claim is `email`,
 * `-` → none), required claims as `claimValidationRules`, extra claims as `valueExpression`s. Pure.
 * `signingAlgs` and `clockSkewSeconds` have no field in the format and stay kubegate settings.
 */
export function authenticationConfigurationFromOidc(o: OidcSection, caPem?: string): AuthenticationConfigurationDoc {
  const prefix = o.usernamePrefix === '-' ? '' : o.usernamePrefix !== undefined && o.usernamePrefix !== '' ? o.usernamePrefix : o.usernameClaim === 'email' ? '' : `${o.issuerUrl}#`;
  const jwt: JwtAuthenticatorDoc = {
    issuer: { url: o.issuerUrl, audiences: [o.clientId], audienceMatchPolicy: 'MatchAny', ...(caPem !== undefined && { certificateAuthority: caPem }) },
    claimMappings: {
      username: { claim: o.usernameClaim, prefix },
      ...(o.groupsClaim !== undefined && { groups: { claim: o.groupsClaim, prefix: o.groupsPrefix } }),
      ...(o.uidClaim !== undefined && { uid: { claim: o.uidClaim } }),
    },
  };
  const required = Object.entries(o.requiredClaims);
  if (required.length > 0) jwt.claimValidationRules = required.map(([claim, requiredValue]) => ({ claim, requiredValue }));
  const extra = Object.entries(o.extraClaims);
  if (extra.length > 0) jwt.claimMappings.extra = extra.map(([key, claim]) => ({ key, valueExpression: `claims[?${celString(claim)}].orValue('')` }));
  return { apiVersion: 'apiserver.config.k8s.io/v1', kind: 'AuthenticationConfiguration', jwt: [jwt] };
}
