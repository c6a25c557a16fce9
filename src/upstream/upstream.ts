/**
 * The API server kubegate forwards to and kubegate's own credentials, loaded with
 * @kubernetes/client-node from a kubeconfig (`upstream.kubeconfig`) or the in-cluster service account.
 *
 * Credentials are refreshed in the background (client-node re-reads a projected token file at most
 * every 60 s), so the request path only reads cached values. TLS to the API server is always verified:
 * a kubeconfig with `insecure-skip-tls-verify` or an `http://` server is refused at start-up.
 *
 * `probe()` backs the unauthenticated `/readyz`: concurrent callers share one upstream request and its
 * answer is reused for `probeCacheMs`, so no number of `/readyz` requests turns into more than about one
 * credentialed request (and one connection) per `probeCacheMs` to the API server. One probe runs at
 * start-up; the first answer and every change between usable and not usable is logged with the reason
 * (connection refused, DNS, timeout, untrusted certificate, credential refused with 401/403, 5xx), and
 * `probeReason()` tells it to whoever shows readiness.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import { describeFetchError } from '../net/fetch-error.js';
import { importKubeConfig } from './kube-config.js';

export interface UpstreamSettings {
  kubeconfig?: string | undefined;
  /** Test hook: root prefix for the in-cluster service-account files. */
  inClusterPathPrefix?: string;
  refreshSeconds?: number;
  /** How long a probe() answer is reused, in milliseconds (default {@link DEFAULT_PROBE_CACHE_MS}; 0: not reused). */
  probeCacheMs?: number;
  /** Probe once right away, so the log says at start-up whether the API server is usable (default true). */
  probeAtStart?: boolean;
}

export const DEFAULT_PROBE_CACHE_MS = 1000;

export interface Upstream {
  readonly target: URL;
  /** The loaded kubeconfig (kubegate's own identity), for kubegate's own API calls (reviews, stores). */
  readonly kubeConfig: KubeConfig;
  /** The server URL's path without a trailing slash ('' for none): every request path goes under it. */
  readonly pathPrefix: string;
  /** Keep-alive agent verifying the API server against its CA, carrying kubegate's client certificate if any. */
  agent(): https.Agent;
  /** Agent without keep-alive for protocol upgrades: every upgrade gets its own connection, never reused. */
  upgradeAgent(): https.Agent;
  /**
   * TLS options for a new connection to the API server (verified against its CA, with kubegate's client
   * certificate if any, one shared secure context): the current material, read at each connect.
   */
  tlsOptions(): tls.ConnectionOptions;
  /** Call `fn` when the TLS material changes (connections made before should drain). Returns an unsubscribe. */
  onTlsChange(fn: () => void): () => void;
  /** kubegate's own `Authorization` value, or undefined when it authenticates with a client certificate. */
  authorization(): string | undefined;
  /**
   * Any HTTP answer from the API server but 401 and 5xx means reachable with working credentials. Callers
   * while a probe is in flight get its answer; an answer is reused for `probeCacheMs` after it arrived.
   * `timeoutMs` (default 2000) applies to the request this call starts, if it starts one.
   */
  probe(timeoutMs?: number): Promise<boolean>;
  /** Why the latest probe failed, in plain words; undefined when it succeeded or none has finished. */
  probeReason(): string | undefined;
  close(): void;
}

interface Material {
  ca?: string;
  cert?: string;
  key?: string;
  servername?: string;
  authorization?: string;
}

/** @throws KubegateError UPSTREAM_CONFIG when no usable, verified API server target can be loaded. */
export async function loadUpstream(s: UpstreamSettings, log: Logger): Promise<Upstream> {
  const kc = new (await importKubeConfig())();
  try {
    if (s.kubeconfig !== undefined) kc.loadFromFile(s.kubeconfig);
    else {
      if (!process.env.KUBERNETES_SERVICE_HOST) {
        throw new Error('no --kubeconfig given and not running in a cluster (KUBERNETES_SERVICE_HOST is unset)');
      }
      kc.loadFromCluster(s.inClusterPathPrefix);
    }
  } catch (err) {
    throw new KubegateError('UPSTREAM_CONFIG', `cannot load API server configuration: ${(err as Error).message}`, { cause: err });
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubegateError('UPSTREAM_CONFIG', 'kubeconfig has no current cluster');
  if (cluster.skipTLSVerify) {
    throw new KubegateError('UPSTREAM_CONFIG', `cluster ${JSON.stringify(cluster.name)} sets insecure-skip-tls-verify; kubegate always verifies the API server`);
  }
  let target: URL;
  try {
    target = new URL(cluster.server);
  } catch (err) {
    throw new KubegateError('UPSTREAM_CONFIG', `cluster server ${JSON.stringify(cluster.server)} is not a URL`, { cause: err });
  }
  if (target.protocol !== 'https:') {
    throw new KubegateError('UPSTREAM_CONFIG', `cluster server must be https, got ${target.protocol}//${target.host}`);
  }
  const pathPrefix = target.pathname.replace(/\/+$/, '');

  const readMaterial = async (): Promise<Material> => {
    const opts: https.RequestOptions = { headers: {} };
    await kc.applyToHTTPSOptions(opts);
    const headers = (opts.headers ?? {}) as Record<string, string | undefined>;
    const m: Material = {};
    if (opts.ca) m.ca = String(opts.ca);
    if (opts.cert) m.cert = String(opts.cert);
    if (opts.key) m.key = String(opts.key);
    if (cluster.tlsServerName) m.servername = cluster.tlsServerName;
    const auth = headers.Authorization ?? headers.authorization;
    if (auth) m.authorization = auth.trim();
    else if (opts.auth) m.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
    return m;
  };

  let material: Material;
  try {
    material = await readMaterial();
  } catch (err) {
    throw new KubegateError('UPSTREAM_CONFIG', `cannot load kubegate's own credentials: ${(err as Error).message}`, { cause: err });
  }
  if (!material.authorization && !material.cert) {
    throw new KubegateError('UPSTREAM_CONFIG', 'the kubeconfig user has no token or client certificate; kubegate needs its own credentials');
  }
  // One TLS context per set of credentials, shared by every connection: given only ca/cert/key, Node
  // builds a new context per connection (≈23 KB per held watch and ≈280 µs per new connection, measured).
  const tlsOptions = (m: Material) => ({ ca: m.ca, cert: m.cert, key: m.key, servername: m.servername, secureContext: tls.createSecureContext({ ca: m.ca, cert: m.cert, key: m.key }) });
  const makeAgent = (t: tls.ConnectionOptions) => new https.Agent({ keepAlive: true, maxFreeSockets: 256, ...t });
  const makeUpgradeAgent = (t: tls.ConnectionOptions) => new https.Agent({ keepAlive: false, maxSockets: Infinity, ...t });
  let current: tls.ConnectionOptions = tlsOptions(material);
  let agent = makeAgent(current);
  let upgradeAgent = makeUpgradeAgent(current);
  const tlsListeners = new Set<() => void>();

  const refresh = setInterval(() => {
    readMaterial().then(
      (next) => {
        if (next.ca !== material.ca || next.cert !== material.cert || next.key !== material.key) {
          const old = agent;
          current = tlsOptions(next);
          agent = makeAgent(current);
          upgradeAgent = makeUpgradeAgent(current);
          for (const fn of tlsListeners) fn();
          setTimeout(() => old.destroy(), 60_000).unref();
          log.info('upstream TLS material changed; new connections use it');
        }
        material = next;
      },
      // Only the error's code: an exec credential plugin's message can quote its output, credentials included.
      (err: unknown) => log.warn('refreshing upstream credentials failed; keeping the previous ones', { error: (err as NodeJS.ErrnoException).code ?? (err as Error).name }),
    );
  }, (s.refreshSeconds ?? 10) * 1000);
  refresh.unref();

  const probeOnce = (timeoutMs: number) =>
    new Promise<ProbeResult>((resolve) => {
      const headers: Record<string, string> = {};
      if (material.authorization) headers.authorization = material.authorization;
      const url = new URL(`${pathPrefix}/readyz`, target);
      const req = https.request(url, { agent, headers, timeout: timeoutMs }, (res) => {
        res.resume();
        resolve(judge(res.statusCode ?? 0, url.pathname, material.authorization !== undefined));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'TIMEOUT' })));
      req.on('error', (err) => {
        const trust = material.ca === undefined ? undefined : "the kubeconfig's certificate-authority";
        resolve({ ok: false, reason: describeFetchError(err, { url, trust, caFlag: "the kubeconfig's certificate-authority (or the service account's ca.crt)", timeoutMs }) });
      });
      req.end();
    });
  const probeCacheMs = s.probeCacheMs ?? DEFAULT_PROBE_CACHE_MS;
  let probeInFlight: Promise<boolean> | undefined;
  let lastProbe: { ok: boolean; at: number } | undefined;
  let reason: string | undefined;
  let usable: boolean | undefined; // the last state logged

  /** Remember the reason and log a change between usable and not usable (the first answer too). */
  const record = ({ ok, reason: why }: ProbeResult): boolean => {
    reason = why;
    if (ok !== usable) {
      if (ok) log.info(usable === undefined ? 'API server reachable with kubegate\'s credential' : 'API server usable again', { server: target.origin });
      else log.warn(`API server not usable: ${why}`, { server: target.origin, reason: why });
      usable = ok;
    }
    return ok;
  };
  const failed = (err: unknown): ProbeResult => ({ ok: false, reason: (err as Error).message });

  const probe = (timeoutMs = 2000): Promise<boolean> => {
    if (lastProbe !== undefined && performance.now() - lastProbe.at < probeCacheMs) return Promise.resolve(lastProbe.ok);
    probeInFlight ??= probeOnce(timeoutMs)
      .catch(failed)
      .then((result) => {
        lastProbe = { ok: result.ok, at: performance.now() };
        probeInFlight = undefined;
        return record(result);
      });
    return probeInFlight;
  };
  // The start-up probe only logs: its answer is not reused by /readyz (which asks afresh).
  if (s.probeAtStart !== false) void probeOnce(2000).catch(failed).then((result) => usable === undefined && record(result));

  return {
    target,
    kubeConfig: kc,
    pathPrefix,
    agent: () => agent,
    upgradeAgent: () => upgradeAgent,
    tlsOptions: () => current,
    onTlsChange(fn) {
      tlsListeners.add(fn);
      return () => void tlsListeners.delete(fn);
    },
    authorization: () => material.authorization,
    probe,
    probeReason: () => reason,
    close() {
      clearInterval(refresh);
      agent.destroy();
    },
  };
}

interface ProbeResult {
  ok: boolean;
  reason?: string | undefined;
}

/** An HTTP answer to the probe: anything but 401, 403 and 5xx means reachable with a working credential. */
function judge(status: number, path: string, token: boolean): ProbeResult {
  const credential = token ? 'its token' : 'its client certificate';
  if (status === 401) {
    return { ok: false, reason: `the API server refused kubegate's credential (HTTP 401 on ${path}): ${credential} is not valid or has expired; check --kubeconfig's user or the service account token` };
  }
  if (status === 403) {
    return { ok: false, reason: `the API server refused kubegate's identity (HTTP 403 on ${path}): ${credential} is accepted but the identity may not read ${path}; check its RBAC` };
  }
  if (status >= 500 || status === 0) return { ok: false, reason: `the API server answered HTTP ${status} on ${path}: it is not ready itself` };
  return { ok: true };
}
