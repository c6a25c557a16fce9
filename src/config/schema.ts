/**
 * The one configuration schema. A YAML file, environment variables and flags all produce this shape;
 * `validateConfig` is pure (no network, no files opened) and reports every problem at once, each
 * prefixed with its path and the flag that sets it.
 */
import { z } from 'zod';
import { requestHeaderNameProblem } from '../impersonation/headers.js';

/** JWS algorithms kube-apiserver accepts for ID tokens. `none` and HS* are refused: a symmetric key
 * shared with the identity provider would let anyone holding it mint tokens. */
export const SUPPORTED_SIGNING_ALGS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'] as const;

const nonEmpty = z.string().min(1, 'must not be empty');

const httpsUrl = nonEmpty.superRefine((value, ctx) => {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    ctx.addIssue({ code: 'custom', message: `must be an https URL, got ${JSON.stringify(value)}` });
    return;
  }
  if (url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: `must be an https URL, got ${JSON.stringify(value)}` });
  if (url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'must not have a query or fragment' });
});

const signingAlg = z.string().superRefine((value, ctx) => {
  if ((SUPPORTED_SIGNING_ALGS as readonly string[]).includes(value)) return;
  const why = value === 'none' || /^HS/i.test(value) ? 'is refused (unsigned or symmetric)' : 'is not supported';
  ctx.addIssue({ code: 'custom', message: `${JSON.stringify(value)} ${why}; use one of ${SUPPORTED_SIGNING_ALGS.join(', ')}` });
});

const claimName = nonEmpty.regex(/^[^\s]+$/, 'must be a claim name without spaces');

/** A list of header names (or, for `prefix`, name prefixes) a front proxy may set; empty by default. */
const requestHeaderList = (kind: 'header' | 'prefix') =>
  z
    .array(
      z.string().superRefine((value, ctx) => {
        const problem = requestHeaderNameProblem(value, kind);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      }),
    )
    .default([]);

export const configSchema = z.strictObject({
  server: z
    .strictObject({
      bindAddress: nonEmpty.default('0.0.0.0'),
      securePort: z.number().int().min(0).max(65535).default(8443),
      /** Worker processes sharing the port (node:cluster). 1: a single process. */
      workers: z.number().int().min(1).max(64).default(1),
      tlsCertFile: nonEmpty,
      tlsPrivateKeyFile: nonEmpty,
    })
    // A missing section is validated as {} so each required setting inside it is reported by name.
    .prefault({} as never),
  oidc: z.strictObject({
    issuerUrl: httpsUrl,
    clientId: nonEmpty,
    caFile: nonEmpty.optional(),
    usernameClaim: claimName.default('sub'),
    /** Unset: `<issuerUrl>#` for every claim but `email`. `-`: no prefix. */
    usernamePrefix: z.string().optional(),
    groupsClaim: claimName.optional(),
    groupsPrefix: z.string().default(''),
    uidClaim: claimName.optional(),
    /** Kubernetes user "extra" key → claim name (string or array of strings). */
    extraClaims: z.record(nonEmpty, claimName).default({}),
    requiredClaims: z.record(claimName, z.string()).default({}),
    signingAlgs: z.array(signingAlg).min(1, 'must name at least one algorithm').default(['RS256']),
    /** Allowed clock skew for exp/nbf/iat, in seconds. */
    clockSkewSeconds: z.number().int().min(0).max(300).default(10),
  }).prefault({} as never),
  identity: z
    .strictObject({
      /** Allow mapped usernames/groups that start with `system:`. Off: an identity provider cannot mint system:masters. */
      allowSystemNames: z.boolean().default(false),
    })
    .prefault({}),
  impersonation: z
    .strictObject({
      /**
       * Honour `kubectl --as`/`--as-group`/`--as-uid`: a client's Impersonate-* headers are a request, allowed
       * only where the cluster's RBAC lets the person impersonate (one SubjectAccessReview per attribute).
       * Off: such requests are refused with 403.
       */
      allowClientImpersonation: z.boolean().default(true),
      /** How long SubjectAccessReview answers are reused, per person and attribute. */
      reviewCache: z
        .strictObject({
          allowedSeconds: z.number().int().min(0).max(300).default(10),
          deniedSeconds: z.number().int().min(0).max(300).default(2),
        })
        .prefault({}),
      /**
       * kube-apiserver's front-proxy ("requestheader") headers used by this cluster, stripped from every
       * client request IN ADDITION to X-Remote-User, X-Remote-Uid, X-Remote-Group and X-Remote-Extra-*,
       * which are always stripped. Mirror the cluster's --requestheader-* flags.
       */
      requestHeader: z
        .strictObject({
          usernameHeaders: requestHeaderList('header'),
          uidHeaders: requestHeaderList('header'),
          groupHeaders: requestHeaderList('header'),
          extraHeadersPrefixes: requestHeaderList('prefix'),
        })
        .prefault({}),
    })
    .prefault({}),
  upstream: z
    .strictObject({
      /** Kubeconfig with the API server and kubegate's own credentials; unset: in-cluster config. */
      kubeconfig: nonEmpty.optional(),
    })
    .prefault({}),
  proxy: z
    .strictObject({
      /** Ordinary requests: longest silence from the API server before the request fails with 504. 0: none. */
      requestTimeoutSeconds: z.number().int().min(0).default(60),
      /** Watches, logs, exec, attach, port-forward, proxy: longest silence in both directions. 0: none. */
      longRunningIdleTimeoutSeconds: z.number().int().min(0).default(0),
      /** Watches, logs, exec, attach, port-forward, proxy: longest total duration. 0: none. */
      longRunningMaxSeconds: z.number().int().min(0).default(0),
    })
    .prefault({}),
  audit: z
    .strictObject({
      /** A file path, or `-` for stdout. */
      logPath: nonEmpty.default('-'),
    })
    .prefault({}),
});

/** The validated, defaulted configuration. */
export type Config = z.infer<typeof configSchema>;
