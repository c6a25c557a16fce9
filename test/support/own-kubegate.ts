/**
 * kubegate started in-process like harness.ts does, but with the caller's PKI, issuer and upstream
 * kubeconfig, and exposing what the harness hides: the serving cert/key FILES kubegate reads (so a test
 * can rewrite them) and the operational log as parsed lines (so a test can wait for an event).
 */
import { captureLogger, type LogLine } from './logs.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate, type RunningKubegate, type StartOptions } from '../../src/server/server.js';
import { sendTo, TEST_LISTENER } from './harness.js';
import type { TestIssuer } from './oidc-issuer.js';
import type { CertPair, TestPki } from './pki.js';

export type { LogLine } from './logs.js';

export interface OwnKubegate {
  kubegate: RunningKubegate;
  /** The audit log file this kubegate writes. */
  auditFile: string;
  /** The files kubegate was started with (server.tlsCertFile / server.tlsPrivateKeyFile). */
  serving: CertPair;
  /** Every operational log line, parsed. */
  logs: LogLine[];
  /** A raw HTTPS request on a fresh connection, verified against the PKI's CA. */
  send(path: string, init?: { method?: string; headers?: [string, string][]; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  close(): Promise<void>;
}

export interface OwnKubegateOptions {
  pki: TestPki;
  /** The oidc-provider issuer, or any stand-in with the same coordinates (test/support/jwks-issuer.ts). */
  issuer: Pick<TestIssuer, 'issuer' | 'clientId' | 'caFile'>;
  /** Omit for the in-cluster upstream (then pass `upstream`). */
  upstreamKubeconfig?: string;
  upstream?: StartOptions['upstream'];
  /** Serving pair; default a fresh pki.server(). */
  serving?: CertPair;
}

export async function startOwnKubegate(opts: OwnKubegateOptions): Promise<OwnKubegate> {
  const { pki, issuer } = opts;
  const serving = opts.serving ?? pki.server();
  const auditFile = `${pki.dir}/audit-${Math.random().toString(36).slice(2)}.log`;
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile, http2: TEST_LISTENER === 'h2' },
    oidc: { issuerUrl: issuer.issuer, clientId: issuer.clientId, caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups' },
    upstream: opts.upstreamKubeconfig === undefined ? {} : { kubeconfig: opts.upstreamKubeconfig },
    audit: { logPath: auditFile },
  });
  const { log, lines: logs } = captureLogger();
  const kubegate = await startKubegate(config, { log, ...(opts.upstream ? { upstream: opts.upstream } : {}) });
  await kubegate.ready();
  let closed = false;
  return {
    kubegate,
    auditFile,
    serving,
    logs,
    send: (path, init) => sendTo(kubegate.url, pki.ca, path, init),
    async close() {
      if (closed) return;
      closed = true;
      await kubegate.close();
    },
  };
}

export { eventually } from './wait.js';
