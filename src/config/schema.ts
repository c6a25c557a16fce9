/**
 * The one configuration schema. A YAML file, environment variables and flags all produce this shape;
 * `validateConfig` is pure (no network, no files opened) and reports every problem at once, each
 * prefixed with its path and the flag that sets it.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { requestHeaderNameProblem } from '../net/header-names.js';

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

/** Who: usernames and groups as kubegate maps them (prefixes applied). */
const principals = z
  .strictObject({
    users: z.array(nonEmpty).default([]),
    groups: z.array(nonEmpty).default([]),
  })
  .prefault({})
  .refine((p) => p.users.length + p.groups.length > 0, 'must name at least one user or group');

/** One break-glass rule: who may take which groups, for how long, under which conditions. */
const elevationRule = z.strictObject({
  name: nonEmpty.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a lower-case DNS label'),
  /** Who may ask. */
  requesters: principals,
  /** The groups this rule can grant. */
  groups: z.array(nonEmpty).min(1, 'must name at least one group'),
  /** Longest grant, in seconds. */
  maxDurationSeconds: z.number().int().min(60).max(7 * 86400),
  /** A reason of at least this many characters is required. */
  minReasonLength: z.number().int().min(1).max(1000).default(10),
  /** The token must prove MFA: `amr` contains one of `amr`, or `acr` is one of `acr`. */
  mfa: z
    .strictObject({ amr: z.array(nonEmpty).default([]), acr: z.array(nonEmpty).default([]) })
    .refine((m) => m.amr.length + m.acr.length > 0, 'must list amr or acr values')
    .optional(),
  /** The login (`auth_time`) must be at most this old, in seconds. */
  maxAuthAgeSeconds: z.number().int().min(30).max(86400).optional(),
  /** Set: a second person from these must approve (never the requester). */
  approvers: principals.optional(),
});

const elevationSchema = z
  .strictObject({
    /** Where grants live: the Kubernetes API (shared by every replica) or a file (demo, single instance). */
    store: z.discriminatedUnion('type', [
      z.strictObject({ type: z.literal('kubernetes'), namespace: nonEmpty.default('kubegate') }),
      z.strictObject({ type: z.literal('file'), path: nonEmpty }),
    ]),
    /** A request waiting for approval lapses after this long. */
    pendingTimeoutSeconds: z.number().int().min(60).max(86400).default(900),
    /** POST every grant event as JSON here (chat, paging); failures are logged, never block a grant. */
    notify: z.strictObject({ webhookUrl: httpsUrl, caFile: nonEmpty.optional() }).optional(),
    rules: z.array(elevationRule).min(1, 'must have at least one rule'),
  })
  .superRefine((e, ctx) => {
    const seen = new Set<string>();
    e.rules.forEach((rule, i) => {
      if (seen.has(rule.name)) ctx.addIssue({ code: 'custom', path: ['rules', i, 'name'], message: `duplicate rule name ${JSON.stringify(rule.name)}` });
      seen.add(rule.name);
    });
  });

/**
 * Revocation without restart (docs/revocation.md): deny a user or group, or every token of a user issued
 * before a time, through `kubegate revoke`; every replica sees it within a second. Absent: off (the
 * revocation API answers 404 and no request is checked).
 */
const revocationSchema = z.strictObject({
  /** Where revocations live: the Kubernetes API (shared by every replica) or a file (demo, one host). */
  store: z.discriminatedUnion('type', [
    z.strictObject({ type: z.literal('kubernetes'), namespace: nonEmpty.default('kubegate') }),
    z.strictObject({ type: z.literal('file'), path: nonEmpty }),
  ]),
  /** Who may create, list and delete revocations (usernames and groups as kubegate maps them). */
  admins: principals,
});

/** An OAuth scope token (RFC 6749 §3.3), without a comma: scopes travel comma-separated on command lines. */
const scope = z.string().regex(/^[\x21\x23-\x2b\x2d-\x5b\x5d-\x7e]+$/, 'must be one scope: printable ASCII without spaces, commas, quotes or backslashes');

/**
 * The sign-in page (`/kubegate/login`, routes/login-page.ts): signs a person in through `oidc.issuerUrl`,
 * shows the identity kubegate will impersonate for them and hands out a kubeconfig whose user runs
 * `kubegate login`. Absent or `enabled: false`: off (the paths go through authentication like the rest of
 * kubegate's own API). The issuer and its CA are `oidc.issuerUrl` and `oidc.caFile`.
 */
const loginPageSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    /** kubegate's URL as people and kubectl reach it (origin only): the page's redirect URI is `<publicUrl>/kubegate/login/callback`, and the kubeconfig's `server`. */
    publicUrl: httpsUrl
      .refine((v) => !URL.canParse(v) || new URL(v).pathname === '/', 'must be an origin without a path, e.g. https://kubegate.example.com')
      .optional(),
    /** The page's client at the identity provider; default `oidc.clientId`. */
    clientId: nonEmpty.optional(),
    /** A file holding the page's client secret (confidential client); unset: a public client (PKCE only). */
    clientSecretFile: nonEmpty.optional(),
    /** How the page authenticates to the token endpoint when it has a secret. */
    clientAuthMethod: z.enum(['client_secret_basic', 'client_secret_post']).default('client_secret_basic'),
    /** Scopes the page asks for; also the kubeconfig's `--scopes` unless `kubeconfig.scopes` is set. */
    scopes: z
      .array(scope)
      .min(1, 'must name at least one scope')
      .default(['openid', 'email', 'profile'])
      .refine((s) => s.includes('openid'), 'must include openid'),
    /** How long a person has to finish signing in at the identity provider (the flow cookie's lifetime). */
    flowTimeoutSeconds: z.number().int().min(60).max(3600).default(600),
    /**
     * A file of at least 32 random bytes (e.g. `openssl rand -base64 48`) keying the flow cookie. Needed when
     * the callback may reach another process than the one that started the sign-in (several replicas, or
     * `server.workers` > 1); unset: a random key per process.
     */
    cookieKeyFile: nonEmpty.optional(),
    /** The kubeconfig the page hands out (it holds no credential: kubectl runs `kubegate login`). */
    kubeconfig: z
      .strictObject({
        /** Name of the cluster, user and context entries. */
        name: nonEmpty.regex(/^[A-Za-z0-9][-A-Za-z0-9_.@]*$/, 'must be letters, digits, -, _, . or @').default('kubegate'),
        /** PEM CA that signs kubegate's serving certificate, embedded as certificate-authority-data; unset: system roots. */
        certificateAuthorityFile: nonEmpty.optional(),
        /** The command kubectl runs (on the person's machine). */
        command: nonEmpty.default('kubegate'),
        /** `kubegate login --scopes` (openid is always asked for); default `loginPage.scopes`. */
        scopes: z.array(scope).min(1, 'must name at least one scope').optional(),
        /** `kubegate login --grant`: `device` for people on SSH sessions or without a browser; unset: code (browser). */
        grant: z.enum(['code', 'device']).optional(),
        /** `kubegate login --listen-port`: a fixed loopback callback port, for identity providers that match the port. */
        listenPort: z.number().int().min(1).max(65535).optional(),
        /** `kubegate login --auth-param`: extra authorization request parameters, e.g. `access_type: offline` for Google. */
        authParams: z.record(nonEmpty, z.string()).default({}),
        /** Further `kubegate login` arguments, appended as they are (e.g. `--certificate-authority /path/on/their/machine`). */
        extraArgs: z.array(z.string()).default([]),
        /** How people install the CLI, shown on the page. */
        installCommand: nonEmpty.default('npm install --global kubegate'),
      })
      .prefault({}),
  })
  .superRefine((p, ctx) => {
    if (p.enabled && p.publicUrl === undefined) ctx.addIssue({ code: 'custom', path: ['publicUrl'], message: 'is required when the sign-in page is enabled' });
  });

/**
 * A duration as people write it (`12h`, `90m`, `1h30m`, `45s`, `0` = off) or a number of seconds. → seconds.
 */
export function parseDurationSeconds(text: string): number | undefined {
  const t = text.trim();
  if (/^\d+$/.test(t)) return Number(t);
  const m = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(t);
  if (!m || t === '') return undefined;
  const [, d, h, min, sec] = m.map((v) => Number(v ?? 0));
  return d! * 86400 + h! * 3600 + min! * 60 + sec!;
}

const durationSeconds = z.union([z.number(), z.string()]).transform((value, ctx) => {
  const seconds = typeof value === 'number' ? value : parseDurationSeconds(value);
  if (seconds === undefined || !Number.isInteger(seconds) || seconds < 0) {
    ctx.addIssue({ code: 'custom', message: `must be a duration like 12h, 90m, 1h30m or 0 (off), got ${JSON.stringify(value)}` });
    return z.NEVER;
  }
  return seconds;
});

/** `ADDRESS/BITS` (IPv4 or IPv6) or one address. */
const cidr = z.string().superRefine((value, ctx) => {
  const [address = '', bits, ...rest] = value.trim().split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  if (family === 0 || rest.length > 0 || (bits !== undefined && (!/^\d{1,3}$/.test(bits) || Number(bits) > max))) {
    ctx.addIssue({ code: 'custom', message: `must be an address range like 10.0.0.0/8, fd00::/8 or one address, got ${JSON.stringify(value)}` });
  }
});

/**
 * Policies against hostile clients (src/guard/): failed-authentication rate limiting, token lifetime and
 * MFA requirements, which proxies' X-Forwarded-For is believed, and connection limits.
 */
const securitySchema = z
  .strictObject({
    /** Token buckets of FAILED authentications per client address and per token fingerprint; exhausted: 429. */
    authFailureLimit: z
      .strictObject({
        enabled: z.boolean().default(true),
        /** Failures a key regains per minute (the bucket's refill rate). */
        perMinute: z.number().int().min(1).max(1_000_000).default(20),
        /** Failures allowed in a row before the refill rate applies (the bucket's size). */
        burst: z.number().int().min(1).max(1_000_000).default(10),
        /** Most addresses and token fingerprints tracked at once (least recently failed forgotten first). */
        maxTrackedKeys: z.number().int().min(100).max(10_000_000).default(100_000),
      })
      .prefault({}),
    /** Refuse tokens whose `exp - iat` exceeds this (tokens without `iat` too); 0: off. */
    maxTokenLifetime: durationSeconds.default(0),
    /** Every request's token must carry one of these in `amr` (or satisfy requiredAcr when both are set). */
    requiredAmr: z.array(nonEmpty).default([]),
    /** Every request's token must carry one of these as `acr`. */
    requiredAcr: z.array(nonEmpty).default([]),
    /**
     * Off (default): a Kubernetes service-account token is refused, saying so. On: it is checked by a
     * TokenReview with kubegate's credential (answers cached `cacheSeconds`) and the service account impersonated.
     */
    serviceAccountPassthrough: z.strictObject({ enabled: z.boolean().default(false), cacheSeconds: z.number().int().min(0).max(300).default(10) }).prefault({}),
    /** Peers whose X-Forwarded-For is believed for the client address (audit sourceIPs, rate limiting). */
    trustedProxies: z.array(cidr).default([]),
    /** The listener (needs a restart). */
    connections: z
      .strictObject({
        /** Open client connections in total; more are closed at once. 0: no cap. */
        maxTotal: z.number().int().min(0).default(20_000),
        /** Open client connections per address (trusted proxies exempt); 0: no cap. */
        maxPerAddress: z.number().int().min(0).default(0),
        /** A connection must complete TLS and send a whole request head within this; also between requests on it. */
        headersTimeoutSeconds: z.number().int().min(1).max(3600).default(30),
        /** A request (head and body) must be received within this; the response (a watch, exec) is not limited. 0: none. */
        requestTimeoutSeconds: z.number().int().min(0).max(86400).default(300),
      })
      .prefault({})
      .refine((c) => c.requestTimeoutSeconds === 0 || c.requestTimeoutSeconds >= c.headersTimeoutSeconds, {
        message: 'requestTimeoutSeconds must be 0 or at least headersTimeoutSeconds',
        path: ['requestTimeoutSeconds'],
      }),
  })
  .prefault({});

/**
 * `--authentication-config FILE`: a Kubernetes `AuthenticationConfiguration` (several issuers, CEL claim
 * rules and mappings; authn/auth-config.ts validates its content when it is loaded). Instead of the
 * `oidc:` section / `--oidc-*` flags, never with them (kube-apiserver refuses the combination too).
 */
const authenticationSchema = z
  .strictObject({
    /** Path of the AuthenticationConfiguration YAML; reloaded when it changes (an invalid new file is refused). */
    configFile: nonEmpty.optional(),
  })
  .prefault({});

const hasAuthenticationConfig = (raw: Record<string, unknown>) => {
  const a = raw.authentication;
  return typeof a === 'object' && a !== null && (a as Record<string, unknown>).configFile !== undefined;
};

/** The `oidc:` section and `--authentication-config` exclude each other; without either, `oidc` is validated as {} so its required settings are named. */
const oneAuthenticationSource = (raw: unknown, ctx: z.core.$RefinementCtx<unknown>): unknown => {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const r = raw as Record<string, unknown>;
  if (hasAuthenticationConfig(r)) {
    if (r.oidc !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['authentication', 'configFile'], message: 'cannot be combined with the oidc section or --oidc-* flags (as in kube-apiserver): move the issuer into the AuthenticationConfiguration file (kubegate check-config prints the equivalent jwt entry)' });
    }
    return raw;
  }
  return r.oidc === undefined ? { ...r, oidc: {} } : raw;
};

const configObject = z.strictObject({
  server: z
    .strictObject({
      bindAddress: nonEmpty.default('0.0.0.0'),
      securePort: z.number().int().min(0).max(65535).default(8443),
      /** Worker processes sharing the port (node:cluster). 1: a single process. */
      workers: z.number().int().min(1).max(64).default(1),
      tlsCertFile: nonEmpty,
      tlsPrivateKeyFile: nonEmpty,
      /** Prometheus /metrics on its own listener, `HOST:PORT` (loopback by default); `0`: off. */
      metricsBindAddress: z
        .string()
        .default('127.0.0.1:9090')
        .refine((v) => v === '0' || /^(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}$/.test(v), 'must be HOST:PORT (e.g. 0.0.0.0:9090) or 0 to turn metrics off'),
      /** On SIGTERM: how long in-flight ordinary requests may take to finish. */
      shutdownGraceSeconds: z.number().int().min(0).max(3600).default(25),
      /** On SIGTERM: how long watches, logs -f, exec and port-forward sessions get before they are closed. */
      longRunningShutdownGraceSeconds: z.number().int().min(0).max(3600).default(5),
      /** Offer HTTP/2 to clients (ALPN h2, beside http/1.1 on the same port). */
      http2: z.boolean().default(true),
      /** Streams one HTTP/2 client connection may have open at once (kube-apiserver's --http2-max-streams-per-connection). */
      http2MaxStreamsPerConnection: z.number().int().min(1).max(100000).default(250),
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
    extraClaims: z.record(nonEmpty.refine((k) => !k.toLowerCase().startsWith('kubegate.io/'), 'keys under kubegate.io/ are set by kubegate itself'), claimName).default({}),
    requiredClaims: z.record(claimName, z.string()).default({}),
    signingAlgs: z.array(signingAlg).min(1, 'must name at least one algorithm').default(['RS256']),
    /** Allowed clock skew for exp/nbf/iat, in seconds. */
    clockSkewSeconds: z.number().int().min(0).max(300).default(10),
  }).optional(),
  authentication: authenticationSchema,
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
      /** HTTP version to the API server: http2 multiplexes requests and watches over a few connections; auto: http2 when the API server offers it (ALPN). Upgrades (exec, port-forward) always use HTTP/1.1. */
      protocol: z.enum(['auto', 'http1', 'http2']).default('auto'),
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
  log: z
    .strictObject({
      /** The operational log's level (the audit log is not affected). */
      level: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
    })
    .prefault({}),
  security: securitySchema,
  /** Break-glass elevation; absent: off (the elevation API answers 404). */
  elevation: elevationSchema.optional(),
  /** Revocation of users, groups and old tokens without a restart; absent: off. */
  revocation: revocationSchema.optional(),
  /** The sign-in page at /kubegate/login; absent or not enabled: off. */
  loginPage: loginPageSchema.optional(),
  /** The audit trail (audit/): flags named like kube-apiserver's `--audit-*`. */
  audit: z
    .strictObject({
      /** A file path, `-` for stdout, or `none` (only the webhook). */
      logPath: nonEmpty.default('-'),
      /** An audit.k8s.io/v1 Policy file; unset: Metadata for everything, RequestReceived omitted. */
      policyFile: nonEmpty.optional(),
      /** Rotate the log file at this many megabytes (kube-apiserver's effective default, lumberjack's 100); 0: never. */
      logMaxSize: z.number().int().min(0).max(1_000_000).default(100),
      /** Delete rotated files older than this many days; 0: keep them regardless of age. */
      logMaxAge: z.number().int().min(0).max(36_500).default(0),
      /** Keep at most this many rotated files; 0: keep all. */
      logMaxBackup: z.number().int().min(0).max(100_000).default(0),
      /** gzip rotated files. */
      logCompress: z.boolean().default(false),
      /** blocking: each record is written as it happens; batch: records are gathered and written together. */
      logMode: z.enum(['blocking', 'batch']).default('blocking'),
      logBatchMaxSize: z.number().int().min(1).max(100_000).default(400),
      logBatchMaxWaitSeconds: z.number().positive().max(3600).default(1),
      /** Largest request or response body recorded at the Request/RequestResponse levels, in bytes. */
      maxBodyBytes: z.number().int().min(0).max(64 * 1024 * 1024).default(256 * 1024),
      /** Refuse new requests with 503 while the trail cannot be written (default: serve, count the losses). */
      failClosed: z.boolean().default(false),
      /** kube-apiserver's --audit-webhook-*: POST EventList batches to the receiver a kubeconfig names. */
      webhook: z
        .strictObject({
          configFile: nonEmpty,
          mode: z.enum(['batch', 'blocking']).default('batch'),
          batchBufferSize: z.number().int().min(1).max(10_000_000).default(10_000),
          batchMaxSize: z.number().int().min(1).max(100_000).default(400),
          batchMaxWaitSeconds: z.number().positive().max(3600).default(30),
          initialBackoffSeconds: z.number().positive().max(3600).default(10),
        })
        .optional(),
    })
    .superRefine((a, ctx) => {
      if (a.logPath === 'none' && a.webhook === undefined) ctx.addIssue({ code: 'custom', path: ['logPath'], message: 'is none but no webhook is configured: the audit trail would go nowhere' });
      if (a.webhook && a.webhook.batchMaxSize > a.webhook.batchBufferSize) ctx.addIssue({ code: 'custom', path: ['webhook', 'batchMaxSize'], message: `must not exceed webhook.batchBufferSize (${a.webhook.batchBufferSize})` });
    })
    .prefault({}),
}).superRefine((c, ctx) => {
  if (c.revocation?.store.type === 'file' && c.elevation?.store.type === 'file' && c.revocation.store.path === c.elevation.store.path) {
    ctx.addIssue({ code: 'custom', path: ['revocation', 'store', 'path'], message: 'must not be the elevation store\'s file (elevation.store.path): each keeps its own file' });
  }
  // The sign-in page signs people in at one issuer: the oidc: section's.
  if (c.loginPage?.enabled && c.oidc === undefined) {
    ctx.addIssue({ code: 'custom', path: ['loginPage', 'enabled'], message: 'the sign-in page needs the oidc section (its issuer); it is not available with authentication.configFile yet' });
  }
  // Each worker would make its own random cookie key: a sign-in started on one and finished on another fails.
  if (c.loginPage?.enabled && c.server.workers > 1 && c.loginPage.cookieKeyFile === undefined) {
    ctx.addIssue({ code: 'custom', path: ['loginPage', 'cookieKeyFile'], message: `is required with server.workers ${c.server.workers}: every worker must share one key for the sign-in cookie (e.g. openssl rand -base64 48 > key)` });
  }
});

export const configSchema = z.preprocess(oneAuthenticationSource, configObject);

/** The validated, defaulted configuration. */
export type Config = z.infer<typeof configSchema>;
export type ElevationConfig = NonNullable<Config['elevation']>;
export type ElevationRule = ElevationConfig['rules'][number];
export type RevocationConfig = NonNullable<Config['revocation']>;
export type LoginPageConfig = NonNullable<Config['loginPage']>;
export type SecurityConfig = Config['security'];
