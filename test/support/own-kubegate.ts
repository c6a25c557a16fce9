/**
 * kubegate started in-process like harness.ts does, but with the caller's PKI, issuer and upstream
 * kubeconfig, and exposing what the harness hides: the serving cert/key FILES kubegate reads (so a test
 * can rewrite them) and the operational log as parsed lines (so a test can wait for an event).
 */
import { Writable } from 'node:stream';
import winston from 'winston';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate, type RunningKubegate, type StartOptions } from '../../src/server/server.js';
import { sendTo } from './harness.js';
import type { TestIssuer } from './oidc-issuer.js';
import type { CertPair, TestPki } from './pki.js';

export interface LogLine {
  level: string;
  message: string;
  [key: string]: unknown;
}

export interface OwnKubegate {
  kubegate: RunningKubegate;
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
  issuer: TestIssuer;
  /** Omit for the in-cluster upstream (then pass `upstream`). */
  upstreamKubeconfig?: string;
  upstream?: StartOptions['upstream'];
  /** Serving pair; default a fresh pki.server(). */
  serving?: CertPair;
}

export async function startOwnKubegate(opts: OwnKubegateOptions): Promise<OwnKubegate> {
  const { pki, issuer } = opts;
  const serving = opts.serving ?? pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
    oidc: { issuerUrl: issuer.issuer, clientId: issuer.clientId, caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups' },
    upstream: opts.upstreamKubeconfig === undefined ? {} : { kubeconfig: opts.upstreamKubeconfig },
    audit: { logPath: `${pki.dir}/audit-${Math.random().toString(36).slice(2)}.log` },
  });
  const logs: LogLine[] = [];
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [
      new winston.transports.Stream({
        stream: new Writable({
          write: (chunk, _enc, cb) => {
            for (const line of String(chunk).split('\n').filter(Boolean)) logs.push(JSON.parse(line) as LogLine);
            cb();
          },
        }),
      }),
    ],
  });
  const kubegate = await startKubegate(config, { log, ...(opts.upstream ? { upstream: opts.upstream } : {}) });
  await kubegate.ready();
  let closed = false;
  return {
    kubegate,
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

/** Poll `check` until it returns a value other than undefined, or fail after `capMs` (never a fixed sleep that hopes). */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, capMs: number, stepMs = 100): Promise<T> {
  const deadline = Date.now() + capMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${capMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, stepMs));
  }
}
