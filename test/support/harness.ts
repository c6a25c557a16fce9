/**
 * The whole system on loopback for end-to-end tests: throwaway PKI, a real OIDC provider, the recording
 * fake API server, kubegate itself (in-process, real TLS), and real kubectl as the client.
 */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { AuditEvent } from '../../src/audit/event.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate, type RunningKubegate, type StartOptions } from '../../src/server/server.js';
import { startFakeApiServer, type FakeApiServer } from './fake-apiserver.js';
import { startTestIssuer, type TestIssuer } from './oidc-issuer.js';
import { createPki, type TestPki } from './pki.js';

export const KUBECTL = process.env.KUBECTL ?? '/usr/bin/kubectl';
export const SA_TOKEN = 'kubegate-service-account-token-0123456789';
/**
 * The listener the end-to-end tests run against: 'h2' (HTTP/2 and HTTP/1.1 by ALPN, what kubectl then
 * uses is HTTP/2) unless KUBEGATE_TEST_LISTENER=h1 (HTTP/1.1 only). CI runs the end-to-end tests both ways.
 */
export const TEST_LISTENER: 'h1' | 'h2' = process.env.KUBEGATE_TEST_LISTENER === 'h1' ? 'h1' : 'h2';
/**
 * What the recording fake API server speaks: 'http2' (h2 and HTTP/1.1 by ALPN, like kube-apiserver; kubegate's
 * default `upstream.protocol: auto` then forwards over HTTP/2) unless KUBEGATE_TEST_UPSTREAM=http1.
 */
export const TEST_UPSTREAM: 'http1' | 'http2' = process.env.KUBEGATE_TEST_UPSTREAM === 'http1' ? 'http1' : 'http2';

export interface Harness {
  pki: TestPki;
  issuer: TestIssuer;
  fake: FakeApiServer;
  kubegate: RunningKubegate;
  auditFile: string;
  /** Every operational log line kubegate wrote. */
  logs: string[];
  kubeconfigFor(token: string | undefined): string;
  kubectl(args: string[], token: string | undefined): Promise<{ code: number; stdout: string; stderr: string }>;
  /** A raw HTTPS request to kubegate; `headers` may repeat names. */
  send(path: string, init?: { method?: string; headers?: [string, string][]; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  /** Stop kubegate (flushing the audit log) and return its records. */
  stopAndReadAudit(): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  /** Extra raw config merged over the defaults (e.g. { oidc: { usernameClaim: 'sub' } }). */
  config?: { oidc?: Record<string, unknown>; identity?: Record<string, unknown>; impersonation?: Record<string, unknown>; elevation?: Record<string, unknown>; revocation?: Record<string, unknown>; security?: Record<string, unknown> };
  /** What the fake API server speaks (default TEST_UPSTREAM): 'http1' for tests about HTTP/1.1 framing upstream. */
  upstream?: 'http1' | 'http2';
  /** Start hooks passed to startKubegate (e.g. an elevation clock, the rate limiter's clock). */
  start?: Pick<StartOptions, 'elevation' | 'revocation' | 'guard'>;
}

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const pki = createPki();
  const issuer = await startTestIssuer({ pki });
  const fake = await startFakeApiServer({ serving: pki.server(), expectedToken: SA_TOKEN, http2: (opts.upstream ?? TEST_UPSTREAM) === 'http2' });
  const upstreamKubeconfig = join(pki.dir, 'upstream.kubeconfig');
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(fake.url, pki.caFile, SA_TOKEN));
  const auditFile = join(pki.dir, 'audit.log');
  const serving = pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile, http2: TEST_LISTENER === 'h2' },
    oidc: { issuerUrl: issuer.issuer, clientId: issuer.clientId, caFile: issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups', ...opts.config?.oidc },
    identity: { ...opts.config?.identity },
    ...(opts.config?.impersonation ? { impersonation: opts.config.impersonation } : {}),
    ...(opts.config?.elevation ? { elevation: opts.config.elevation } : {}),
    ...(opts.config?.revocation ? { revocation: opts.config.revocation } : {}),
    // Many tests send dozens of bad tokens from 127.0.0.1: the default failure limit (burst 10) would answer
    // them 429. Tests of the limiter pass their own `security.authFailureLimit`.
    security: { authFailureLimit: { burst: 100_000 }, ...opts.config?.security },
    upstream: { kubeconfig: upstreamKubeconfig },
    audit: { logPath: auditFile },
  });
  const logs: string[] = [];
  const log = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: new Writable({ write: (chunk, _enc, cb) => (logs.push(String(chunk)), cb()) }) })],
  });
  const kubegate = await startKubegate(config, { log, ...opts.start });
  await kubegate.ready();
  let stopped = false;

  const kubeconfigFor = (token: string | undefined) => {
    const file = join(pki.dir, `user-${Math.random().toString(36).slice(2)}.kubeconfig`);
    writeFileSync(file, kubeconfigYaml(kubegate.url, pki.caFile, token));
    return file;
  };

  return {
    pki,
    issuer,
    fake,
    kubegate,
    auditFile,
    logs,
    kubeconfigFor,
    kubectl(args, token) {
      const kubeconfig = kubeconfigFor(token);
      return new Promise((resolve) => {
        const child = execFile(KUBECTL, ['--kubeconfig', kubeconfig, '--request-timeout=20s', ...args], { env: { PATH: process.env.PATH ?? '', HOME: pki.dir } }, (err, stdout, stderr) => {
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
        });
        child.stdin?.end(); // kubectl may prompt for credentials on a 401: give it nothing to read
      });
    },
    send: (path, init) => sendTo(kubegate.url, pki.ca, path, init),
    async stopAndReadAudit() {
      if (!stopped) {
        stopped = true;
        await kubegate.close();
      }
      return readFileSync(auditFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditEvent);
    },
    async close() {
      if (!stopped) {
        stopped = true;
        await kubegate.close();
      }
      await fake.close();
      await issuer.close();
      pki.cleanup();
    },
  };
}

export interface SendInit {
  method?: string;
  /** Header pairs in order; names may repeat. */
  headers?: [string, string][];
  body?: string;
}
export interface SendResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request on a fresh connection, trusting `ca`; the whole response body as text. */
export function sendTo(base: string, ca: string, path: string, init: SendInit = {}): Promise<SendResult> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { method: init.method ?? 'GET', ca, agent: false, servername: 'localhost', headers: [['Host', 'localhost'], ...(init.headers ?? [])].flat() }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

export function kubeconfigYaml(server: string, caFile: string, token: string | undefined): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority: ${caFile}`,
    'users:',
    '- name: u',
    `  user: ${token === undefined ? '{}' : `{token: ${JSON.stringify(token)}}`}`,
    'contexts:',
    '- name: c',
    '  context: {cluster: c, user: u, namespace: default}',
    'current-context: c',
    '',
  ].join('\n');
}
