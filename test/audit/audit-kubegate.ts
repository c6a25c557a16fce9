/**
 * A kubegate in front of a harness's fake API server with the test's own `audit:` settings (policy file,
 * webhook, fail-closed, …), its operational log captured as raw lines so a test can grep all of it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';
import type { AuditEvent } from '../../src/audit/event.js';
import { validateConfigOrThrow } from '../../src/config/validate.js';
import { startKubegate, type RunningKubegate } from '../../src/server/server.js';
import { kubeconfigYaml, SA_TOKEN, sendTo, type Harness, type SendInit, type SendResult } from '../support/harness.js';

export interface AuditKubegate {
  kubegate: RunningKubegate;
  auditFile: string;
  /** Every operational log line (JSON text). */
  logs: string[];
  send(path: string, init?: SendInit): Promise<SendResult>;
  /** Every record in the audit file so far (whole lines). */
  records(): AuditEvent[];
  /** The audit file as written. */
  raw(): string;
  kubeconfigFor(token: string): string;
  close(): Promise<void>;
}

export async function startAuditKubegate(h: Harness, audit: Record<string, unknown>): Promise<AuditKubegate> {
  const tag = Math.random().toString(36).slice(2);
  const upstreamKubeconfig = join(h.pki.dir, `upstream-${tag}.kubeconfig`);
  writeFileSync(upstreamKubeconfig, kubeconfigYaml(h.fake.url, h.pki.caFile, SA_TOKEN));
  const auditFile = join(h.pki.dir, `audit-${tag}.log`);
  const serving = h.pki.server();
  const config = validateConfigOrThrow({
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
    oidc: { issuerUrl: h.issuer.issuer, clientId: h.issuer.clientId, caFile: h.issuer.caFile, usernameClaim: 'email', groupsClaim: 'groups', groupsPrefix: 'oidc:' },
    upstream: { kubeconfig: upstreamKubeconfig },
    audit: { logPath: auditFile, ...audit },
  });
  const logs: string[] = [];
  const log = winston.createLogger({ level: 'debug', format: winston.format.json(), transports: [new winston.transports.Stream({ stream: new Writable({ write: (c, _e, cb) => (logs.push(String(c)), cb()) }) })] });
  const kubegate = await startKubegate(config, { log });
  await kubegate.ready();
  let closed = false;
  const raw = () => {
    try {
      return readFileSync(auditFile, 'utf8');
    } catch {
      return '';
    }
  };
  return {
    kubegate,
    auditFile,
    logs,
    send: (path, init) => sendTo(kubegate.url, h.pki.ca, path, init),
    raw,
    records: () => raw().split('\n').filter((l) => l.endsWith('}')).map((l) => JSON.parse(l) as AuditEvent),
    kubeconfigFor(token) {
      const file = join(h.pki.dir, `user-${Math.random().toString(36).slice(2)}.kubeconfig`);
      writeFileSync(file, kubeconfigYaml(kubegate.url, h.pki.caFile, token));
      return file;
    },
    async close() {
      if (closed) return;
      closed = true;
      await kubegate.close();
    },
  };
}
