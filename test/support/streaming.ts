/**
 * Helpers for the streaming and upgrade end-to-end tests: kubectl as a spawned child read incrementally,
 * condition waits with a failure cap (a cap only turns a hang into a failure; nothing passes by waiting),
 * raw TLS sockets for hand-written upgrade requests, and a second in-process kubegate with its own
 * `proxy.*` settings in front of a harness's fake API server.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { openTls } from './keepalive-client.js';
import { within } from './wait.js';

export { within } from './wait.js';
import winston from 'winston';
import type { AuditEvent } from '../../src/audit/event.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate, type RunningKubegate } from '../../src/server/server.js';
import { KUBECTL, SA_TOKEN, TEST_LISTENER, kubeconfigYaml, sendTo, type Harness } from './harness.js';

/** Resolves on the first `event` of `emitter` (with its first argument). */
export function once<T = unknown>(emitter: EventEmitter, event: string, capMs = 10_000): Promise<T> {
  return within(new Promise<T>((resolve) => emitter.once(event, (value: T) => resolve(value))), capMs, `'${event}'`);
}

/** A value a test can wait for, settled by whoever produces it (e.g. a fake route). */
export interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  readonly settled: boolean;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let settled = false;
  const promise = new Promise<T>((r) => (resolve = r));
  return {
    promise,
    resolve: (value: T) => {
      settled = true;
      resolve(value);
    },
    get settled() {
      return settled;
    },
  };
}

export interface SpawnedKubectl {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once stdout matches (checked on every chunk as it arrives). */
  waitForStdout(pattern: RegExp, capMs?: number): Promise<void>;
  /** Resolves with the exit code (or the signal name) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Run real kubectl against kubegate as a child whose stdout is read as it arrives. */
export function spawnKubectl(h: Harness, args: string[], token: string | undefined): SpawnedKubectl {
  const kubeconfig = h.kubeconfigFor(token);
  const child = spawn(KUBECTL, ['--kubeconfig', kubeconfig, ...args], { env: { PATH: process.env.PATH ?? '', HOME: h.pki.dir }, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin!.end();
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
    for (const w of [...watchers]) w();
  });
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitForStdout(pattern, capMs = 15_000) {
      return within(
        new Promise<void>((resolve) => {
          const check = () => {
            if (pattern.test(out)) {
              watchers.delete(check);
              resolve();
            }
          };
          watchers.add(check);
          check();
          void exited.then(() => watchers.delete(check));
        }),
        capMs,
        `kubectl stdout to match ${pattern} (stdout so far: ${JSON.stringify(out)}, stderr: ${JSON.stringify(err)})`,
      );
    },
  };
}

export { openTls } from './keepalive-client.js';

export interface RawExchange {
  socket: TLSSocket;
  /** Everything received so far. */
  received(): Buffer;
  /** Resolves once the received bytes satisfy `test`. */
  waitFor(test: (received: Buffer) => boolean, what: string, capMs?: number): Promise<void>;
  /** Resolves when the server has closed the connection (end or close). */
  closed: Promise<void>;
}

/** Open a raw TLS connection and write `request` in ONE write; collects whatever comes back. */
export async function rawExchange(port: number, ca: string, request: string | Buffer): Promise<RawExchange> {
  const socket = await openTls(port, ca);
  const chunks: Buffer[] = [];
  const watchers = new Set<() => void>();
  const closed = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
  });
  socket.on('error', () => {});
  socket.on('data', (c: Buffer) => {
    chunks.push(c);
    for (const w of [...watchers]) w();
  });
  socket.write(request);
  const received = () => Buffer.concat(chunks);
  return {
    socket,
    received,
    closed,
    waitFor(test, what, capMs = 10_000) {
      return within(
        new Promise<void>((resolve) => {
          const check = () => {
            if (test(received())) {
              watchers.delete(check);
              resolve();
            }
          };
          watchers.add(check);
          check();
        }),
        capMs,
        `${what} (received so far: ${JSON.stringify(received().toString('latin1').slice(0, 500))})`,
      );
    },
  };
}

/** Header lines for a raw request: CRLF-joined, ending with the blank line. */
export function head(lines: string[]): string {
  return `${lines.join('\r\n')}\r\n\r\n`;
}

export interface ExtraKubegate {
  kubegate: RunningKubegate;
  /** A raw HTTPS GET (or other method) to this kubegate on a fresh connection. */
  send(path: string, init?: { method?: string; headers?: [string, string][]; body?: string }): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>;
  /** Stop this kubegate and return its audit records. */
  stopAndReadAudit(): Promise<AuditEvent[]>;
  close(): Promise<void>;
}

/**
 * A second kubegate in front of the harness's fake API server, with extra settings (e.g.
 * `{ proxy: { requestTimeoutSeconds: 1 } }`); same issuer, identity mapping and credentials as the harness's.
 */
export async function startExtraKubegate(h: Harness, extra: { proxy?: Record<string, unknown>; impersonation?: Record<string, unknown>; elevation?: Record<string, unknown>; revocation?: Record<string, unknown>; security?: Record<string, unknown>; serverPath?: string }): Promise<ExtraKubegate> {
  const tag = Math.random().toString(36).slice(2);
  const upstreamKubeconfig = join(h.pki.dir, `upstream-${tag}.kubeconfig`);
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(h.fake.url + (extra.serverPath ?? ''), h.pki.caFile, SA_TOKEN));
  const auditFile = join(h.pki.dir, `audit-${tag}.log`);
  const serving = h.pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile, http2: TEST_LISTENER === 'h2' },
    oidc: { issuerUrl: h.issuer.issuer, clientId: h.issuer.clientId, caFile: h.issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups' },
    upstream: { kubeconfig: upstreamKubeconfig },
    audit: { logPath: auditFile },
    ...(extra.proxy ? { proxy: extra.proxy } : {}),
    ...(extra.impersonation ? { impersonation: extra.impersonation } : {}),
    ...(extra.elevation ? { elevation: extra.elevation } : {}),
    ...(extra.revocation ? { revocation: extra.revocation } : {}),
    security: { authFailureLimit: { burst: 100_000 }, ...extra.security },
  });
  const log = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: new Writable({ write: (_c, _e, cb) => cb() }) })] });
  const kubegate = await startKubegate(config, { log });
  await kubegate.ready();
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await kubegate.close();
  };
  return {
    kubegate,
    send: (path, init) => sendTo(kubegate.url, h.pki.ca, path, init),
    async stopAndReadAudit() {
      await stop();
      return readFileSync(auditFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditEvent);
    },
    close: stop,
  };
}
