/**
 * Assemble kubegate from a validated config: runtime objects are built here, after validation
 * (key sets, agents, loggers), then the TLS listener is started.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'winston';
import { createAuditSink, type AuditSink } from '../audit/sink.js';
import { createOidcAuthenticator } from '../authn/oidc.js';
import type { Config } from '../config/schema.js';
import { KubegateError } from '../errors/errors.js';
import { createForwarder } from '../proxy/forward.js';
import { createUpgradeForwarder } from '../proxy/upgrade.js';
import type { ElevationConfig } from '../config/schema.js';
import { grantAuditEvent } from '../elevation/audit.js';
import { createFileElevationStore } from '../elevation/file-store.js';
import { createGrantService } from '../elevation/grants.js';
import { createKubeElevationStore } from '../elevation/kube-store.js';
import { createNotifier } from '../elevation/notify.js';
import type { ElevationStore } from '../elevation/types.js';
import { startMetricsListener } from '../metrics/listener.js';
import { createMetrics, type Metrics } from '../metrics/metrics.js';
import { createAccessReviewer } from '../upstream/access-review.js';
import { loadUpstream, type Upstream, type UpstreamSettings } from '../upstream/upstream.js';
import { createHandlers } from './pipeline.js';
import { loadServingCert, TLS_MIN_VERSION, watchServingCert } from './tls.js';

export interface RunningKubegate {
  /** https://host:port kubegate listens on. */
  readonly url: string;
  readonly port: number;
  /** Resolves once the identity provider's keys are loaded. */
  ready(): Promise<void>;
  /** Requests whose audit record is not written yet. */
  inflight(): number;
  readonly metrics: Metrics;
  /** http://host:port of the /metrics listener, when one was started. */
  readonly metricsUrl: string | undefined;
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
  /** Where audit events go, for embedders (default: the sink `audit.logPath` names). */
  auditSink?: AuditSink;
  /** The metrics registry to fill (default: a new one). */
  metrics?: Metrics;
  /** Serve /metrics on `server.metricsBindAddress` (default true; a `--workers` worker leaves it to the primary). */
  metricsListener?: boolean;
  /** Test hooks for elevation: a store instead of the configured one, a clock instead of Date.now. */
  elevation?: { store?: ElevationStore; now?: () => number };
}

/** @throws KubegateError CONFIG_INVALID / UPSTREAM_CONFIG / AUDIT_UNAVAILABLE when start-up cannot complete. */
export async function startKubegate(config: Readonly<Config>, opts: StartOptions): Promise<RunningKubegate> {
  const { log } = opts;
  const metrics = opts.metrics ?? createMetrics();
  const serving = loadServingCert(config.server.tlsCertFile, config.server.tlsPrivateKeyFile);
  const oidcCa = config.oidc.caFile === undefined ? undefined : readFileOrThrow(config.oidc.caFile, 'oidc.caFile');
  const upstream = await loadUpstream({ kubeconfig: config.upstream.kubeconfig, ...opts.upstream }, log);
  const audit = opts.auditSink ?? createAuditSink(config.audit.logPath, (err) => log.error('audit sink failed', { error: err.message }));
  const authenticator = createOidcAuthenticator(
    {
      issuerUrl: config.oidc.issuerUrl,
      clientId: config.oidc.clientId,
      ca: oidcCa,
      signingAlgs: config.oidc.signingAlgs,
      requiredClaims: config.oidc.requiredClaims,
      clockSkewSeconds: config.oidc.clockSkewSeconds,
      metrics,
      mapping: {
        issuerUrl: config.oidc.issuerUrl,
        usernameClaim: config.oidc.usernameClaim,
        usernamePrefix: config.oidc.usernamePrefix,
        groupsClaim: config.oidc.groupsClaim,
        groupsPrefix: config.oidc.groupsPrefix,
        uidClaim: config.oidc.uidClaim,
        extraClaims: config.oidc.extraClaims,
        allowSystemNames: config.identity.allowSystemNames,
      },
    },
    log,
  );
  const elevation = config.elevation === undefined ? undefined : startElevation(config.elevation, upstream, audit, log, opts.elevation);
  if (elevation) metrics.activeGrantsFrom(() => elevation.grants.activeCount());
  let draining = false;
  const forwarder = createForwarder(upstream, { metrics, draining: () => draining });
  const upgrades = createUpgradeForwarder(upstream);
  const handlers = createHandlers({
    authenticator,
    upstream,
    forwarder,
    upgrades,
    limits: config.proxy,
    requestHeaderNames: config.impersonation.requestHeader,
    allowClientImpersonation: config.impersonation.allowClientImpersonation,
    grants: elevation?.grants,
    reviewer: createAccessReviewer(upstream.kubeConfig, {
      allowSeconds: config.impersonation.reviewCache.allowedSeconds,
      denySeconds: config.impersonation.reviewCache.deniedSeconds,
      onLookup: (hit) => metrics.reviewCache.inc({ result: hit ? 'hit' : 'miss' }),
    }),
    audit,
    metrics,
    log,
  });

  const server = https.createServer({ ...serving, minVersion: TLS_MIN_VERSION });
  server.on('request', handlers.request);
  server.on('upgrade', handlers.upgrade);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // A parse error is a refused request (answered and audited); anything else is a broken connection.
    if (err.code?.startsWith('HPE_')) handlers.unparsable(err, socket);
    else socket.destroy();
  });
  const stopWatching = watchServingCert(server, config.server.tlsCertFile, config.server.tlsPrivateKeyFile, log);

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.securePort, config.server.bindAddress, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((err: Error) => {
    stopWatching();
    elevation?.close();
    authenticator.close();
    upstream.close();
    throw new KubegateError('CONFIG_INVALID', `cannot listen on ${config.server.bindAddress}:${config.server.securePort}: ${err.message}`, { cause: err });
  });
  const metricsListener =
    opts.metricsListener === false || config.server.metricsBindAddress === '0'
      ? undefined
      : await startMetricsListener(config.server.metricsBindAddress, async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() })).catch(async (err: unknown) => {
          stopWatching();
          authenticator.close();
          elevation?.close();
          upstream.close();
          await new Promise<void>((resolve) => server.close(() => resolve()));
          throw err;
        });
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  log.info('kubegate serving', { address: `${host}:${port}`, upstream: upstream.target.origin, issuer: config.oidc.issuerUrl });

  let closing: Promise<void> | undefined;
  /** Everything after the listener stopped: records written, stores and listeners closed, audit flushed. */
  const finish = async () => {
    await handlers.drain();
    elevation?.close();
    await elevation?.flush();
    forwarder.close();
    upstream.close();
    await metricsListener?.close();
    await audit.close();
  };
  return {
    url: `https://${host}:${port}`,
    port,
    ready: () => authenticator.whenReady(),
    inflight: () => handlers.inflight(),
    metrics,
    metricsUrl: metricsListener?.url,
    close() {
      closing ??= (async () => {
        stopWatching();
        authenticator.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
          upgrades.close();
        });
        await finish();
      })();
      return closing;
    },
    shutdown() {
      closing ??= (async () => {
        const started = Date.now();
        draining = true;
        handlers.drainMode(false);
        stopWatching();
        const listenerClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Connections become idle as their responses finish: close them as they do.
        const sweep = setInterval(() => server.closeIdleConnections(), 100);
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
            server.closeAllConnections();
            upgrades.close();
          }
        }
        clearInterval(sweep);
        server.closeAllConnections();
        await listenerClosed;
        authenticator.close();
        await finish();
        log.info('stopped', { afterSeconds: ((Date.now() - started) / 1000).toFixed(3) });
      })();
      return closing;
    },
  };
}

/** The grant service over the configured store, its expiry sweep, notifications and audit records. */
function startElevation(e: ElevationConfig, upstream: Upstream, audit: AuditSink, log: Logger, hook: StartOptions['elevation']) {
  const store = hook?.store ?? (e.store.type === 'kubernetes' ? createKubeElevationStore({ kubeConfig: upstream.kubeConfig, namespace: e.store.namespace, log }) : createFileElevationStore({ path: e.store.path, log }));
  store.ready().then(
    () => log.info('elevation store in sync', { store: e.store.type }),
    (err: Error) => log.error('elevation store failed to load', { store: e.store.type, error: err.message }),
  );
  const notifier = e.notify === undefined ? undefined : createNotifier({ webhookUrl: e.notify.webhookUrl, ca: e.notify.caFile === undefined ? undefined : readFileOrThrow(e.notify.caFile, 'elevation.notify.caFile'), log });
  const grants = createGrantService({
    store,
    policy: e,
    ...(hook?.now && { now: hook.now }),
    onEvent: (event) => {
      audit.write(grantAuditEvent(event));
      log.info('elevation event', { event: event.kind, actor: event.actor, elevation: event.elevation?.id, requestAuditID: event.requestAuditId });
      notifier?.notify(event);
    },
  });
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    void grants.sweep().finally(() => (sweeping = false));
  }, 1000);
  sweeper.unref();
  return {
    grants,
    close() {
      clearInterval(sweeper);
      store.close();
    },
    flush: () => notifier?.flush(),
  };
}

function readFileOrThrow(path: string, setting: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new KubegateError('CONFIG_INVALID', `${setting}: cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}
