/**
 * kubegate's Prometheus metrics (prom-client), one registry per running kubegate so several can share a
 * process (tests) and `--workers` can aggregate them (prom-client's cluster registry). Stages get the
 * few instruments they touch; nothing here knows about requests or tokens.
 *
 * Names follow Prometheus conventions: `kubegate_…_total` counters, `_seconds` histograms, base units.
 */
import { Counter, Gauge, Histogram, Registry } from './prom.js';
import { VERSION } from '../version/version.js';

export interface Metrics {
  readonly registry: Registry;
  /** Every request with its audit record: kube-apiserver's verb and resource, the recorded code. */
  readonly requests: Counter<'verb' | 'resource' | 'code' | 'outcome'>;
  /** Failed authentications by kubegate error code (AUTHN_INVALID_TOKEN, …). */
  readonly authenticationFailures: Counter<'reason'>;
  /** From forwarding a request to the API server's response headers. */
  readonly upstreamDuration: Histogram<'verb'>;
  /** Requests whose audit record is not written yet, by kind (ordinary, long-running, upgrade). */
  readonly inflight: Gauge<'kind'>;
  /** Issuer key-set fetches by result (ok, error). */
  readonly jwksFetches: Counter<'result'>;
  /** Verified-token cache lookups by result (hit, miss). */
  readonly tokenCache: Counter<'result'>;
  /** SubjectAccessReview cache lookups by result (hit, miss). */
  readonly reviewCache: Counter<'result'>;
  /** Audit records by result (written: handed to the output after the policy; dropped: lost by a backend). */
  readonly auditRecords: Counter<'result'>;
  /** Audit records a backend (log, webhook) could not keep. */
  readonly auditDropped: Counter<'backend'>;
  /** 1 while an audit backend keeps every record, 0 while it is losing them. */
  readonly auditBackendHealthy: Gauge<'backend'>;
  /** Configuration reloads by result (applied, refused). */
  readonly configReloads: Counter<'result'>;
  /** Requests answered 429 by the failed-authentication rate limiter, by what was throttled (address, token). */
  readonly authenticationThrottled: Counter<'by'>;
  /** Client connections closed at once by a connection cap, by cap (total, per-address). */
  readonly connectionsRefused: Counter<'reason'>;
  /** Set the source of the active-grants gauge (read at scrape time). */
  activeGrantsFrom(source: () => number): void;
  /** Set the sources of the limiter's tracked-keys and the open-connections gauges (read at scrape time). */
  guardFrom(sources: { trackedKeys: () => number; openConnections: () => number }): void;
}

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  let activeGrants: () => number = () => 0;
  let guard = { trackedKeys: () => 0, openConnections: () => 0 };
  new Gauge({
    name: 'kubegate_authentication_throttle_tracked_keys',
    help: 'Client addresses and token fingerprints the failed-authentication limiter tracks now (bounded).',
    registers,
    collect() {
      this.set(guard.trackedKeys());
    },
  });
  new Gauge({
    name: 'kubegate_open_connections',
    help: 'Client connections open now.',
    registers,
    collect() {
      this.set(guard.openConnections());
    },
  });
  new Gauge({ name: 'kubegate_build_info', help: 'kubegate build information (always 1).', labelNames: ['version', 'node'], registers }).set({ version: VERSION, node: process.version }, 1);
  new Gauge({
    name: 'kubegate_elevation_active_grants',
    help: 'Break-glass grants in force now.',
    registers,
    collect() {
      this.set(activeGrants());
    },
  });
  return {
    registry,
    requests: new Counter({ name: 'kubegate_requests_total', help: 'Requests by verb, resource, recorded code and outcome.', labelNames: ['verb', 'resource', 'code', 'outcome'], registers }),
    authenticationFailures: new Counter({ name: 'kubegate_authentication_failures_total', help: 'Failed authentications by reason.', labelNames: ['reason'], registers }),
    upstreamDuration: new Histogram({
      name: 'kubegate_upstream_request_duration_seconds',
      help: 'Time from forwarding a request to the API server\'s response headers.',
      labelNames: ['verb'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    }),
    inflight: new Gauge({ name: 'kubegate_inflight_requests', help: 'Requests in flight by kind.', labelNames: ['kind'], registers }),
    jwksFetches: new Counter({ name: 'kubegate_jwks_fetches_total', help: 'Issuer key-set fetches by result.', labelNames: ['result'], registers }),
    tokenCache: new Counter({ name: 'kubegate_token_cache_lookups_total', help: 'Verified-token cache lookups by result.', labelNames: ['result'], registers }),
    reviewCache: new Counter({ name: 'kubegate_access_review_cache_lookups_total', help: 'SubjectAccessReview cache lookups by result.', labelNames: ['result'], registers }),
    auditRecords: new Counter({ name: 'kubegate_audit_records_total', help: 'Audit records by result.', labelNames: ['result'], registers }),
    auditDropped: new Counter({ name: 'kubegate_audit_dropped_records_total', help: 'Audit records an audit backend could not keep, by backend.', labelNames: ['backend'], registers }),
    auditBackendHealthy: new Gauge({ name: 'kubegate_audit_backend_healthy', help: 'Whether an audit backend keeps every record (1) or is losing them (0).', labelNames: ['backend'], registers }),
    configReloads: new Counter({ name: 'kubegate_config_reloads_total', help: 'Configuration reloads by result.', labelNames: ['result'], registers }),
    authenticationThrottled: new Counter({ name: 'kubegate_authentication_throttled_total', help: 'Requests refused with 429 after too many failed authentications, by what was throttled.', labelNames: ['by'], registers }),
    connectionsRefused: new Counter({ name: 'kubegate_connections_refused_total', help: 'Client connections closed at once by a connection cap.', labelNames: ['reason'], registers }),
    activeGrantsFrom(source) {
      activeGrants = source;
    },
    guardFrom(sources) {
      guard = sources;
    },
  };
}
