/**
 * The `serve` / `check-config` flags, named like kube-oidc-proxy's and kube-apiserver's, and the
 * environment variables that mirror them (`KUBEGATE_` + the flag name upper-cased, `-` → `_`).
 * Each maps to one path in the config schema.
 */

export interface FlagSpec {
  /** Dotted path in the config schema. */
  path: string;
  type: 'string' | 'port' | 'seconds' | 'count' | 'list' | 'keyValue' | 'boolean';
  help: string;
}

export const FLAGS = {
  'bind-address': { path: 'server.bindAddress', type: 'string', help: 'Address to listen on (default 0.0.0.0).' },
  'secure-port': { path: 'server.securePort', type: 'port', help: 'HTTPS port (default 8443; 0 picks a free port).' },
  workers: { path: 'server.workers', type: 'count', help: 'Worker processes sharing the port, one per core is typical (default 1).' },
  'tls-cert-file': { path: 'server.tlsCertFile', type: 'string', help: 'Serving certificate (PEM, may include the chain). Reloaded when it changes.' },
  'tls-private-key-file': { path: 'server.tlsPrivateKeyFile', type: 'string', help: 'Serving private key (PEM). Reloaded when it changes.' },
  'metrics-bind-address': { path: 'server.metricsBindAddress', type: 'string', help: 'Prometheus /metrics listener, HOST:PORT (default 127.0.0.1:9090); 0 turns it off.' },
  'shutdown-grace-seconds': { path: 'server.shutdownGraceSeconds', type: 'seconds', help: 'On SIGTERM, how long in-flight requests may take to finish (default 25).' },
  http2: { path: 'server.http2', type: 'boolean', help: 'Offer HTTP/2 to clients beside HTTP/1.1 on the same port (ALPN; default true; =false serves HTTP/1.1 only).' },
  'http2-max-streams-per-connection': { path: 'server.http2MaxStreamsPerConnection', type: 'count', help: 'Streams one HTTP/2 client connection may have open at once (default 250).' },
  'long-running-shutdown-grace-seconds': { path: 'server.longRunningShutdownGraceSeconds', type: 'seconds', help: 'On SIGTERM, how long watches and exec/port-forward sessions get before they are closed (default 5).' },
  'log-level': { path: 'log.level', type: 'string', help: 'Operational log level: error, warn, info or debug (default info; KUBEGATE_LOG_LEVEL too).' },
  'oidc-issuer-url': { path: 'oidc.issuerUrl', type: 'string', help: 'OIDC issuer URL (https only); must equal the tokens\' iss claim.' },
  'oidc-client-id': { path: 'oidc.clientId', type: 'string', help: 'Client ID the ID tokens must be issued to (aud).' },
  'oidc-ca-file': { path: 'oidc.caFile', type: 'string', help: 'CA bundle for the issuer\'s TLS certificate (default: system roots).' },
  'oidc-username-claim': { path: 'oidc.usernameClaim', type: 'string', help: 'Claim used as the username (default sub).' },
  'oidc-username-prefix': { path: 'oidc.usernamePrefix', type: 'string', help: 'Prefix for usernames; default "<issuer>#" unless the claim is email; "-" disables.' },
  'oidc-groups-claim': { path: 'oidc.groupsClaim', type: 'string', help: 'Claim holding the groups (string or array of strings).' },
  'oidc-groups-prefix': { path: 'oidc.groupsPrefix', type: 'string', help: 'Prefix added to every group.' },
  'oidc-uid-claim': { path: 'oidc.uidClaim', type: 'string', help: 'Claim sent as Impersonate-Uid.' },
  'oidc-required-claim': { path: 'oidc.requiredClaims', type: 'keyValue', help: 'key=value a token must carry; repeatable.' },
  'oidc-signing-algs': { path: 'oidc.signingAlgs', type: 'list', help: 'Comma-separated accepted signing algorithms (default RS256).' },
  'authentication-config': { path: 'authentication.configFile', type: 'string', help: 'Kubernetes AuthenticationConfiguration file (apiserver.config.k8s.io/v1 or v1beta1): several issuers, CEL claim rules and mappings; reloaded on change. Not with --oidc-*.' },
  'allow-system-identities': { path: 'identity.allowSystemNames', type: 'boolean', help: 'Allow mapped names that start with system: (off by default).' },
  'allow-client-impersonation': { path: 'impersonation.allowClientImpersonation', type: 'boolean', help: 'Honour kubectl --as/--as-group/--as-uid where the cluster\'s RBAC allows it, checked by SubjectAccessReview (default true; =false refuses them with 403).' },
  'requestheader-username-headers': { path: 'impersonation.requestHeader.usernameHeaders', type: 'list', help: 'Comma-separated username headers the cluster\'s front proxy uses, stripped from clients in addition to X-Remote-User (default none).' },
  'requestheader-uid-headers': { path: 'impersonation.requestHeader.uidHeaders', type: 'list', help: 'Comma-separated uid headers the cluster\'s front proxy uses, stripped from clients in addition to X-Remote-Uid (default none).' },
  'requestheader-group-headers': { path: 'impersonation.requestHeader.groupHeaders', type: 'list', help: 'Comma-separated group headers the cluster\'s front proxy uses, stripped from clients in addition to X-Remote-Group (default none).' },
  'requestheader-extra-headers-prefix': { path: 'impersonation.requestHeader.extraHeadersPrefixes', type: 'list', help: 'Comma-separated extra-header prefixes the cluster\'s front proxy uses, stripped from clients in addition to X-Remote-Extra- (default none).' },
  kubeconfig: { path: 'upstream.kubeconfig', type: 'string', help: 'Kubeconfig for the API server and kubegate\'s own credentials (default: in-cluster).' },
  'upstream-protocol': { path: 'upstream.protocol', type: 'string', help: 'HTTP version to the API server: auto (HTTP/2 when it offers it, the default), http1 or http2. Upgrades always use HTTP/1.1.' },
  'request-timeout-seconds': { path: 'proxy.requestTimeoutSeconds', type: 'seconds', help: 'Ordinary requests fail with 504 after this long without an answer from the API server (default 60; 0 = none).' },
  'long-running-idle-timeout-seconds': { path: 'proxy.longRunningIdleTimeoutSeconds', type: 'seconds', help: 'Watch/logs/exec/attach/port-forward: close after this long with no bytes either way (default 0 = never).' },
  'long-running-max-seconds': { path: 'proxy.longRunningMaxSeconds', type: 'seconds', help: 'Watch/logs/exec/attach/port-forward: close after this long in total (default 0 = never).' },
  'login-page': { path: 'loginPage.enabled', type: 'boolean', help: 'Serve the sign-in page at /kubegate/login: sign in, see your mapped identity, download a kubeconfig (default false).' },
  'login-page-public-url': { path: 'loginPage.publicUrl', type: 'string', help: 'kubegate\'s public https URL (origin); the page\'s redirect URI is <url>/kubegate/login/callback. Required with --login-page.' },
  'login-page-client-id': { path: 'loginPage.clientId', type: 'string', help: 'The sign-in page\'s client ID at the identity provider (default: --oidc-client-id).' },
  'login-page-client-secret-file': { path: 'loginPage.clientSecretFile', type: 'string', help: 'File holding the sign-in page\'s client secret (default: none, a public client with PKCE).' },
  'login-page-scopes': { path: 'loginPage.scopes', type: 'list', help: 'Comma-separated scopes the page asks for and the kubeconfig passes to kubegate login (default openid,email,profile).' },
  'login-page-cookie-key-file': { path: 'loginPage.cookieKeyFile', type: 'string', help: 'File of >= 32 random bytes keying the sign-in flow cookie; needed with several replicas or workers (default: random per process).' },
  'login-page-kubeconfig-ca-file': { path: 'loginPage.kubeconfig.certificateAuthorityFile', type: 'string', help: 'CA of kubegate\'s serving certificate, embedded in the page\'s kubeconfig (default: none, system roots).' },
  'auth-failure-rate-limit': { path: 'security.authFailureLimit.enabled', type: 'boolean', help: 'Answer 429 to a client address or token after too many failed authentications (default true).' },
  'auth-failure-limit-per-minute': { path: 'security.authFailureLimit.perMinute', type: 'count', help: 'Failed authentications an address or token regains per minute (default 20).' },
  'auth-failure-limit-burst': { path: 'security.authFailureLimit.burst', type: 'count', help: 'Failed authentications allowed in a row before 429 (default 10).' },
  'max-token-lifetime': { path: 'security.maxTokenLifetime', type: 'string', help: 'Refuse tokens whose exp - iat exceeds this, e.g. 12h; tokens without iat too (default 0 = off).' },
  'required-amr': { path: 'security.requiredAmr', type: 'list', help: 'Comma-separated amr values; every token must carry one of them, e.g. mfa,hwk (default none).' },
  'required-acr': { path: 'security.requiredAcr', type: 'list', help: 'Comma-separated acr values; every token must carry one of them (default none).' },
  'service-account-passthrough': { path: 'security.serviceAccountPassthrough.enabled', type: 'boolean', help: 'Accept Kubernetes service-account tokens: checked by TokenReview with kubegate\'s credential, then the service account is impersonated (default false: refused).' },
  'trusted-proxies': { path: 'security.trustedProxies', type: 'list', help: 'Comma-separated CIDRs of proxies whose X-Forwarded-For is believed for the client address (default none: the socket address).' },
  'max-connections': { path: 'security.connections.maxTotal', type: 'count', help: 'Open client connections in total; more are closed at once (default 20000; 0 = no cap).' },
  'max-connections-per-address': { path: 'security.connections.maxPerAddress', type: 'count', help: 'Open client connections per client address, trusted proxies exempt (default 0 = no cap).' },
  'client-header-timeout-seconds': { path: 'security.connections.headersTimeoutSeconds', type: 'seconds', help: 'A connection must finish TLS and send a request head within this (default 30).' },
  'client-request-timeout-seconds': { path: 'security.connections.requestTimeoutSeconds', type: 'seconds', help: 'A request head and body must arrive within this; responses are not limited (default 300; 0 = none).' },
  'audit-log-path': { path: 'audit.logPath', type: 'string', help: 'Audit log file, - for stdout, or none (webhook only) (default -).' },
  'audit-policy-file': { path: 'audit.policyFile', type: 'string', help: 'audit.k8s.io/v1 Policy file, as kube-apiserver\'s (default: Metadata for every request, RequestReceived omitted).' },
  'audit-log-maxsize': { path: 'audit.logMaxSize', type: 'count', help: 'Rotate the audit log file at this many megabytes (default 100; 0 = never).' },
  'audit-log-maxage': { path: 'audit.logMaxAge', type: 'count', help: 'Delete rotated audit log files older than this many days (default 0 = keep).' },
  'audit-log-maxbackup': { path: 'audit.logMaxBackup', type: 'count', help: 'Keep at most this many rotated audit log files (default 0 = all).' },
  'audit-log-compress': { path: 'audit.logCompress', type: 'boolean', help: 'gzip rotated audit log files (default false).' },
  'audit-log-mode': { path: 'audit.logMode', type: 'string', help: 'blocking (each record written as it happens) or batch (default blocking).' },
  'audit-log-batch-max-size': { path: 'audit.logBatchMaxSize', type: 'count', help: 'batch mode: most records per write (default 400).' },
  'audit-log-batch-max-wait': { path: 'audit.logBatchMaxWaitSeconds', type: 'seconds', help: 'batch mode: longest wait before a partial batch is written, seconds (default 1).' },
  'audit-max-body-bytes': { path: 'audit.maxBodyBytes', type: 'count', help: 'Largest request/response body recorded at the Request/RequestResponse levels (default 262144).' },
  'audit-fail-closed': { path: 'audit.failClosed', type: 'boolean', help: 'Refuse new requests with 503 while the audit trail cannot be written (default false: serve and count losses).' },
  'audit-webhook-config-file': { path: 'audit.webhook.configFile', type: 'string', help: 'Kubeconfig naming the audit webhook receiver (server URL, certificate-authority, optional client cert or token).' },
  'audit-webhook-mode': { path: 'audit.webhook.mode', type: 'string', help: 'batch or blocking (default batch).' },
  'audit-webhook-batch-buffer-size': { path: 'audit.webhook.batchBufferSize', type: 'count', help: 'Records buffered for the webhook before new ones are dropped (default 10000).' },
  'audit-webhook-batch-max-size': { path: 'audit.webhook.batchMaxSize', type: 'count', help: 'Most records per webhook POST (default 400).' },
  'audit-webhook-batch-max-wait': { path: 'audit.webhook.batchMaxWaitSeconds', type: 'seconds', help: 'Longest wait before a partial batch is POSTed, seconds (default 30).' },
  'audit-webhook-initial-backoff': { path: 'audit.webhook.initialBackoffSeconds', type: 'seconds', help: 'First retry delay after a failed webhook POST, doubling up to 60 s (default 10).' },
} as const satisfies Record<string, FlagSpec>;

export type FlagName = keyof typeof FLAGS;

/** The flag that sets a config path, for error messages. */
export function flagForPath(path: string): string | undefined {
  for (const [name, spec] of Object.entries(FLAGS)) if (spec.path === path) return `--${name}`;
  return undefined;
}

export function envNameForFlag(flag: string): string {
  return `KUBEGATE_${flag.toUpperCase().replace(/-/g, '_')}`;
}
