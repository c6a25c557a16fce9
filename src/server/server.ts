/**
 * Assemble kubegate from a validated config: runtime objects are built here, after validation
 * (key sets, agents, loggers), then the TLS listener is started.
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'winston';
import type { AuditOutput } from '../audit/sink.js';
import { startAuditTrail, type AuditTrail } from '../audit/trail.js';
import { createConfiguredAuthenticator, loadIssuers } from '../authn/configured.js';
import type { Config } from '../config/schema.js';
import { KubegateError } from '../errors/errors.js';
import { createForwarder } from '../proxy/forward.js';
import { createH2Pool } from '../proxy/h2-pool.js';
import { selectUpstreamClient } from '../proxy/select-client.js';
import { createUpgradeForwarder } from '../proxy/upgrade.js';
import type { ElevationConfig } from '../config/schema.js';
import { mapStructuredClaims } from '../identity/structured.js';
import { createLoginPage, loginPageSettings, type LoginPage } from '../routes/login-page.js';
import { grantAuditEvent } from '../elevation/audit.js';
import { createFileElevationStore } from '../elevation/file-store.js';
import { createGrantService } from '../elevation/grants.js';
import { createNotifier } from '../elevation/notify.js';
import type { ElevationStore } from '../elevation/types.js';
import { revocationAuditEvent } from '../revocation/audit.js';
import { createRevocationService, type RevocationService } from '../revocation/service.js';
import { createFileRevocationStore, type RevocationStore } from '../revocation/stores.js';
import type { RevocationConfig } from '../config/schema.js';
import { startMetricsListener } from '../metrics/listener.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { createAccessReviewer } from '../upstream/access-review.js';
import { loadUpstream, type Upstream, type UpstreamSettings } from '../upstream/upstream.js';
import { createAuthGuard } from '../guard/auth-guard.js';
import { trustedProxies } from '../guard/client-address.js';
import { guardConnections } from '../guard/connections.js';
import { clientNodeTokenReview, createServiceAccountReviewer } from '../guard/service-accounts.js';
import { createHandlers, type PipelineDeps } from './pipeline.js';
import { createListener } from './listener.js';
import { answerPlainHttp, loadServingCert, watchServingCert } from './tls.js';

/** What a reload did. */
export interface ReloadResult {
  applied: string[];
  /** Settings that changed but only take effect after a restart (kept as they were). */
  needsRestart: string[];
}

/** Settings read once at start-up. */
const RESTART_ONLY: [string, (c: Readonly<Config>) => unknown][] = [
  ['server', (c) => c.server],
  ['upstream', (c) => c.upstream],
  ['audit', (c) => c.audit],
  ['elevation.store', (c) => [c.elevation === undefined, c.elevation?.store]],
  ['revocation.store', (c) => [c.revocation === undefined, c.revocation?.store]],
  ['security.connections', (c) => c.security.connections],
];

export interface RunningKubegate {
  /** https://host:port kubegate listens on. */
  readonly url: string;
  readonly port: number;
  /** Resolves once the identity provider's keys are loaded (and the revocation list read, when configured). */
  ready(): Promise<void>;
  /** Requests whose audit record is not written yet. */
  inflight(): number;
  readonly metrics: Metrics;
  /** http://host:port of the /metrics listener, when one was started. */
  readonly metricsUrl: string | undefined;
  /**
   * Apply a new configuration (validated by the caller): claim mappings, policies, elevation rules,
   * limits and the log level take effect; settings that need a restart are reported, not applied.
   */
  reload(next: Readonly<Config>): ReloadResult;
  /** Stop now: every connection is closed, in-flight requests end as they are (each still audited). */
  close(): Promise<void>;
  /**
   * Stop gracefully (SIGTERM): /readyz answers 503 at once, no new connections are accepted, idle
   * keep-alive connections are closed and responses carry `Connection: close`; in-flight ordinary
   * requests get `server.shutdownGraceSeconds` to finish; long-running ones get
   * `server.longRunningShutdownGraceSeconds`, then watches end cleanly and sessions are closed; what is
   * left at the deadline is closed. Then the audit log is flushed. Resolves when all of that is done.
   */
  shutdown(): Promise<void>;
}

export interface StartOptions {
  log: Logger;
  /** Test hook for the in-cluster upstream (service-account files under this prefix). */
  upstream?: Pick<UpstreamSettings, 'inClusterPathPrefix' | 'refreshSeconds'>;
  /** Where audit records go, for embedders (default: the backends `audit.*` names; in a worker, the primary). */
  auditOutput?: AuditOutput;
  /** The metrics registry to fill (default: a new one). */
  metrics?: Metrics;
  /** Serve /metrics on `server.metricsBindAddress` (default true; a `--workers` worker leaves it to the primary). */
  metricsListener?: boolean;
  /** Test hooks for elevation: a store instead of the configured one, a clock instead of Date.now. */
  elevation?: { store?: ElevationStore; now?: () => number };
  /** Test hooks for revocation: a store instead of the configured one, a clock. */
  revocation?: { store?: RevocationStore; now?: () => number };
  /** Test hook: the failed-authentication limiter's clock (ms) instead of Date.now. */
  guard?: { now?: () => number };
}

/** @throws KubegateError CONFIG_INVALID / UPSTREAM_CONFIG / AUDIT_UNAVAILABLE / LISTEN_FAILED when start-up cannot complete. */
export async function startKubegate(config: Readonly<Config>, opts: StartOptions): Promise<RunningKubegate> {
  const { log } = opts;
  const metrics = opts.metrics ?? createMetrics();
  // The Kubernetes stores load client-node's API clients: only when configured, before anything is opened.
  const kubeStores = config.elevation?.store.type === 'kubernetes' || config.revocation?.store.type === 'kubernetes' ? await loadKubeStores() : undefined;
  const serving = loadServingCert(config.server.tlsCertFile, config.server.tlsPrivateKeyFile);
  // One authenticator object for the server's life: it swaps its issuers itself on reload (authn/configured.ts).
  // Built first: an invalid AuthenticationConfiguration file stops start-up before anything is opened.
  const authenticator = createConfiguredAuthenticator(config, { log, metrics });
  const upstream = await loadUpstream({ kubeconfig: config.upstream.kubeconfig, ...opts.upstream }, log).catch((err: unknown) => {
    authenticator.close();
    throw err;
  });
  const audit = await startAuditTrail(config, { log, metrics, output: opts.auditOutput });
  const elevation = config.elevation === undefined ? undefined : startElevation(config.elevation, upstream, audit, log, opts.elevation, kubeStores);
  if (elevation) metrics.activeGrantsFrom(() => elevation.grants().activeCount());
  const revocations = config.revocation === undefined ? undefined : startRevocation(config.revocation, upstream, audit, log, () => elevation?.grants(), opts.revocation, kubeStores);
  // (handlers is built below, before any request can arrive: the forwarder only asks while serving.)
  const upstreamClient = selectUpstreamClient(config.upstream.protocol, {
    upstream,
    http2: (onNoHttp2) => createH2Pool({ origin: upstream.target, tls: upstream.tlsOptions, onTlsChange: upstream.onTlsChange, log, onNoHttp2 }),
    log,
  });
  const forwarder = createForwarder(upstream, upstreamClient, { metrics, draining: () => handlers.draining() });
  const upgrades = createUpgradeForwarder(upstream);
  let loginPage = startLoginPage(config, log);
  const buildGuard = (c: Readonly<Config>, keep?: ReturnType<typeof createAuthGuard>['limiter']) =>
    createAuthGuard(c.security, {
      metrics: { throttled: (by) => metrics.authenticationThrottled.inc({ by }) },
      ...(opts.guard?.now && { now: opts.guard.now }),
      limiter: keep,
      serviceAccounts: c.security.serviceAccountPassthrough.enabled ? createServiceAccountReviewer(clientNodeTokenReview(upstream.kubeConfig), { cacheSeconds: c.security.serviceAccountPassthrough.cacheSeconds }) : undefined,
    });
  let guard = buildGuard(config);
  const trusted = trustedProxies(config.security.trustedProxies);
  const deps: PipelineDeps = {
    guard,
    trustedProxies: trusted,
    loginPage,
    authenticator,
    upstream,
    forwarder,
    upgrades,
    limits: config.proxy,
    requestHeaderNames: config.impersonation.requestHeader,
    allowClientImpersonation: config.impersonation.allowClientImpersonation,
    grants: elevation?.grants(),
    revocations,
    reviewer: buildReviewer(config, upstream, metrics),
    audit,
    metrics,
    log,
  };
  const handlers = createHandlers(deps);
  let current = config;

  /** Apply a new, validated configuration to what can change while serving; report what needs a restart. */
  const reload = (next: Readonly<Config>): ReloadResult => {
    const changed = (pick: (c: Readonly<Config>) => unknown) => JSON.stringify(pick(current)) !== JSON.stringify(pick(next));
    const needsRestart = RESTART_ONLY.filter(([, pick]) => changed(pick)).map(([name]) => name);
    const applied: string[] = [];
    if (changed((c) => c.log.level)) {
      log.level = next.log.level;
      applied.push('log.level');
    }
    if (changed((c) => c.proxy)) {
      deps.limits = next.proxy;
      applied.push('proxy');
    }
    if (changed((c) => ({ ...c.security, connections: undefined }))) {
      // The limiter keeps what it knows unless its own settings changed.
      guard = buildGuard(next, changed((c) => c.security.authFailureLimit) ? undefined : guard.limiter);
      deps.guard = guard;
      deps.trustedProxies = trustedProxies(next.security.trustedProxies);
      applied.push('security');
    }
    if (changed((c) => c.impersonation)) {
      deps.requestHeaderNames = next.impersonation.requestHeader;
      deps.allowClientImpersonation = next.impersonation.allowClientImpersonation;
      deps.reviewer = buildReviewer(next, upstream, metrics);
      applied.push('impersonation');
    }
    if (changed((c) => [c.oidc, c.identity, c.authentication])) {
      // New issuers (discovery, key sets, empty token cache) take over once their keys are loaded; until
      // then the current ones keep serving. An invalid AuthenticationConfiguration file is refused and logged.
      if (authenticator.update(next)) applied.push('oidc/identity/authentication (once the issuers\' keys are loaded)');
    }
    if (changed((c) => [c.loginPage, c.oidc, c.identity])) {
      const previous = loginPage;
      loginPage = startLoginPage(next, log);
      deps.loginPage = loginPage;
      previous?.close();
      applied.push('loginPage');
    }
    const elevationRestart = needsRestart.includes('elevation.store');
    if (elevation && next.elevation && !elevationRestart && changed((c) => c.elevation)) {
      elevation.setPolicy(next.elevation);
      deps.grants = elevation.grants();
      applied.push('elevation');
    }
    if (revocations && next.revocation && !needsRestart.includes('revocation.store') && changed((c) => c.revocation?.admins)) {
      revocations.setAdmins(next.revocation.admins);
      applied.push('revocation.admins');
    }
    // What is in force now: the new settings, but the restart-only ones as they were.
    current = {
      ...next,
      server: current.server,
      upstream: current.upstream,
      audit: current.audit,
      elevation: elevationRestart ? current.elevation : next.elevation,
      revocation: needsRestart.includes('revocation.store') ? current.revocation : next.revocation,
      security: { ...next.security, connections: current.security.connections },
    };
    return { applied, needsRestart };
  };

  // Slow clients: a connection must finish TLS and send a request head within headersTimeout, and the whole
  // request (head and body) within requestTimeout. Node applies both to receiving the request only: a
  // watch or exec response after it is not limited (and an upgraded socket leaves the HTTP server).
  const conn = config.security.connections;
  const listener = createListener(
    { serving, http2: config.server.http2, http2MaxStreamsPerConnection: config.server.http2MaxStreamsPerConnection, headersTimeoutSeconds: conn.headersTimeoutSeconds, requestTimeoutSeconds: conn.requestTimeoutSeconds },
    {
      request: handlers.request,
      upgrade: handlers.upgrade,
      tlsClientError: (err, tlsSocket) => answerPlainHttp(err, tlsSocket, handlers.plainHttp),
      // A parse error is a refused request (answered and audited); anything else is a broken connection.
      clientError: (err, socket) => (err.code?.startsWith('HPE_') ? handlers.unparsable(err, socket) : socket.destroy()),
    },
  );
  const server = listener.server;
  const connections = guardConnections(server, { maxTotal: conn.maxTotal, maxPerAddress: conn.maxPerAddress }, trusted, (reason) => metrics.connectionsRefused.inc({ reason }));
  metrics.guardFrom({ trackedKeys: () => deps.guard.trackedKeys(), openConnections: () => connections.open() });
  const stopWatching = watchServingCert(server, config.server.tlsCertFile, config.server.tlsPrivateKeyFile, log);

  const { port, address } = await listener.listen(config.server.securePort, config.server.bindAddress).catch((err: Error) => {
    stopWatching();
    elevation?.close();
    revocations?.close();
    authenticator.close();
    upstream.close();
    const why = (err as NodeJS.ErrnoException).code === 'EADDRINUSE' ? 'the address is already in use (another kubegate, or another program?)' : err.message;
    throw new KubegateError('LISTEN_FAILED', `cannot listen on ${config.server.bindAddress}:${config.server.securePort}: ${why}`, { cause: err, details: { address: `${config.server.bindAddress}:${config.server.securePort}` } });
  });
  const metricsListener =
    opts.metricsListener === false || config.server.metricsBindAddress === '0'
      ? undefined
      : await startMetricsListener(config.server.metricsBindAddress, async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() })).catch(async (err: unknown) => {
          stopWatching();
          authenticator.close();
          elevation?.close();
          revocations?.close();
          upstream.close();
          await listener.close();
          throw err;
        });
  const host = address.includes(':') ? `[${address}]` : address;
  log.info('kubegate serving', { address: `${host}:${port}`, upstream: upstream.target.origin, issuer: config.authentication.configFile ?? config.oidc?.issuerUrl, metrics: metricsListener ? `${metricsListener.url}/metrics` : 'off' });

  let closing: Promise<void> | undefined;
  /** Everything after the listener stopped: records written, stores and listeners closed, audit flushed. */
  const finish = async () => {
    await handlers.drain();
    loginPage?.close();
    elevation?.close();
    revocations?.close();
    await elevation?.flush();
    forwarder.close();
    upstream.close();
    await metricsListener?.close();
    await audit.close();
  };
  return {
    url: `https://${host}:${port}`,
    port,
    ready: async () => {
      await deps.authenticator.whenReady();
      await revocations?.ready().catch(() => {}); // refused requests say why; the log has the cause
    },
    inflight: () => handlers.inflight(),
    reload,
    metrics,
    metricsUrl: metricsListener?.url,
    close() {
      closing ??= (async () => {
        stopWatching();
        authenticator.close();
        const closed = listener.close();
        listener.closeAll();
        upgrades.close();
        await closed;
        await finish();
      })();
      return closing;
    },
    shutdown() {
      closing ??= (async () => {
        const started = Date.now();
        handlers.drainMode(false);
        stopWatching();
        const listenerClosed = listener.close();
        listener.drain();
        // Connections become idle as their responses finish: close them as they do.
        const sweep = setInterval(() => listener.drain(), 100);
        const drained = handlers.drain();
        const timer = (ms: number) => new Promise<'deadline'>((resolve) => setTimeout(() => resolve('deadline'), ms).unref());
        const longRunningGrace = config.server.longRunningShutdownGraceSeconds * 1000;
        const grace = config.server.shutdownGraceSeconds * 1000;
        log.info('draining', { inflight: handlers.inflight(), graceSeconds: config.server.shutdownGraceSeconds, longRunningGraceSeconds: config.server.longRunningShutdownGraceSeconds });
        if ((await Promise.race([drained.then(() => 'drained' as const), timer(longRunningGrace)])) === 'deadline') {
          // Watches end with a normal end of stream; exec and port-forward sessions are closed.
          handlers.drainMode(true);
          const left = Math.max(0, grace - (Date.now() - started));
          if ((await Promise.race([drained.then(() => 'drained' as const), timer(left)])) === 'deadline') {
            log.warn('shutdown grace period over; closing the connections left', { inflight: handlers.inflight() });
            listener.closeAll();
            upgrades.close();
          }
        }
        clearInterval(sweep);
        listener.closeAll();
        await listenerClosed;
        authenticator.close();
        await finish();
        log.info('stopped', { afterSeconds: ((Date.now() - started) / 1000).toFixed(3) });
      })();
      return closing;
    },
  };
}

/** The sign-in page, when `loginPage.enabled`, mapping claims exactly as the authenticator does. */
function startLoginPage(config: Readonly<Config>, log: Logger): LoginPage | undefined {
  const settings = loginPageSettings(config);
  if (settings === undefined || config.oidc === undefined) return undefined;
  // The page shows the identity the authenticator will impersonate: the same rules, the same mapping code.
  const [issuer] = loadIssuers(config);
  if (issuer === undefined) return undefined;
  return createLoginPage(settings, { mapClaims: (claims) => mapStructuredClaims(claims, issuer.rules), log });
}

/** SubjectAccessReviews for `kubectl --as` (`impersonation.reviewCache`). */
function buildReviewer(config: Readonly<Config>, upstream: Upstream, metrics: Metrics) {
  return createAccessReviewer(upstream.kubeConfig, {
    allowSeconds: config.impersonation.reviewCache.allowedSeconds,
    denySeconds: config.impersonation.reviewCache.deniedSeconds,
    onLookup: (hit) => metrics.reviewCache.inc({ result: hit ? 'hit' : 'miss' }),
  });
}

type KubeStores = Awaited<ReturnType<typeof loadKubeStores>>;
async function loadKubeStores() {
  const [{ createKubeElevationStore }, { createKubeRevocationStore }] = await Promise.all([import('../elevation/kube-store.js'), import('../revocation/kube-store.js')]);
  return { elevation: createKubeElevationStore, revocation: createKubeRevocationStore };
}
/** startKubegate loads them whenever a store is of type kubernetes. */
function loaded(kube: KubeStores | undefined): KubeStores {
  if (kube === undefined) throw new KubegateError('INTERNAL', 'the Kubernetes stores were not loaded');
  return kube;
}

/** The grant service over the configured store, its expiry sweep, notifications and audit records. */
function startElevation(e: ElevationConfig, upstream: Upstream, audit: Pick<AuditTrail, 'write'>, log: Logger, hook: StartOptions['elevation'], kube: KubeStores | undefined) {
  const store = hook?.store ?? (e.store.type === 'kubernetes' ? loaded(kube).elevation({ kubeConfig: upstream.kubeConfig, namespace: e.store.namespace, log }) : createFileElevationStore({ path: e.store.path, log }));
  store.ready().then(
    () => log.info('elevation store in sync', { store: e.store.type }),
    (err: Error) => log.error('elevation store failed to load', { store: e.store.type, error: err.message }),
  );
  const build = (policy: ElevationConfig) => {
    const notifier = policy.notify === undefined ? undefined : createNotifier({ webhookUrl: policy.notify.webhookUrl, ca: policy.notify.caFile === undefined ? undefined : readFileOrThrow(policy.notify.caFile, 'elevation.notify.caFile'), log });
    const service = createGrantService({
      store,
      policy,
      ...(hook?.now && { now: hook.now }),
      onEvent: (event) => {
        audit.write(grantAuditEvent(event));
        log.info('elevation event', { event: event.kind, actor: event.actor, elevation: event.elevation?.id, requestAuditID: event.requestAuditId });
        notifier?.notify(event);
      },
    });
    return { service, notifier };
  };
  let current = build(e);
  const notifiers = new Set([current.notifier]);
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void current.service.sweep().finally(() => (sweeping = false));
  }, 1000);
  sweeper.unref();
  return {
    grants: () => current.service,
    /** New rules, approvers and notification settings; the store (and its grants) stay. */
    setPolicy(policy: ElevationConfig) {
      current = build(policy);
      notifiers.add(current.notifier);
    },
    close() {
      clearInterval(sweeper);
      store.close();
    },
    flush: async () => {
      await Promise.all([...notifiers].map((n) => n?.flush()));
    },
  };
}

/** The revocation service over the configured store; its events are audited. */
function startRevocation(r: RevocationConfig, upstream: Upstream, audit: Pick<AuditTrail, 'write'>, log: Logger, grants: () => ReturnType<typeof createGrantService> | undefined, hook: StartOptions['revocation'], kube: KubeStores | undefined): RevocationService {
  const store = hook?.store ?? (r.store.type === 'kubernetes' ? loaded(kube).revocation({ kubeConfig: upstream.kubeConfig, namespace: r.store.namespace, log }) : createFileRevocationStore({ path: r.store.path, log }));
  store.ready().then(
    () => log.info('revocation store in sync', { store: r.store.type }),
    (err: Error) => log.error('revocation store failed to load: every request is refused until it loads', { store: r.store.type, error: err.message }),
  );
  return createRevocationService({
    store,
    admins: r.admins,
    grants,
    log,
    ...(hook?.now && { now: hook.now }),
    onEvent: (event) => {
      audit.write(revocationAuditEvent(event));
      log.info('revocation event', { event: event.kind, actor: event.actor, revocation: event.revocation?.id, requestAuditID: event.requestAuditId });
    },
  });
}

function readFileOrThrow(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubegateError('CONFIG_INVALID', `${setting}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
