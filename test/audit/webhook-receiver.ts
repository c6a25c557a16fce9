/**
 * A loopback HTTPS audit webhook receiver for tests: records every EventList POSTed to it (and the
 * Authorization header it came with), answers 200 while `ok`, 503 otherwise, and lets a test wait for
 * a number of attempts or records instead of sleeping.
 */
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestPki } from '../support/pki.js';
import { within } from '../support/wait.js';

export interface Receiver {
  url: string;
  /** Answer 200 (true) or 503 (false). */
  ok: boolean;
  /** Every record accepted, in arrival order. */
  readonly items: { auditID: string; stage: string; requestURI: string }[];
  readonly attempts: number;
  readonly failedAttempts: number;
  readonly authorizations: string[];
  /** Resolves once `check()` holds (checked after every POST). */
  until(check: () => boolean, what: string): Promise<void>;
  /** A kubeconfig naming this receiver (CA file, bearer token). */
  kubeconfig(token?: string): string;
  close(): Promise<void>;
}

export async function startReceiver(pki: TestPki): Promise<Receiver> {
  const serving = pki.server();
  const items: Receiver['items'] = [];
  const authorizations: string[] = [];
  let attempts = 0;
  let failedAttempts = 0;
  const waiters = new Set<() => void>();
  const state = { ok: true };
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      attempts++;
      authorizations.push(String(req.headers.authorization ?? ''));
      if (!state.ok) {
        failedAttempts++;
        res.writeHead(503).end();
      } else {
        const list = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { kind: string; apiVersion: string; items: Receiver['items'] };
        if (list.kind !== 'EventList' || list.apiVersion !== 'audit.k8s.io/v1') throw new Error(`not an EventList: ${list.kind}`);
        items.push(...list.items);
        res.writeHead(200).end();
      }
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/audit`;
  return {
    url,
    get ok() {
      return state.ok;
    },
    set ok(v: boolean) {
      state.ok = v;
    },
    items,
    get attempts() {
      return attempts;
    },
    get failedAttempts() {
      return failedAttempts;
    },
    authorizations,
    until(check, what) {
      return within(
        new Promise<void>((resolve) => {
          const w = () => {
            if (!check()) return;
            waiters.delete(w);
            resolve();
          };
          waiters.add(w);
          w();
        }),
        20_000,
        what,
      );
    },
    kubeconfig(token = 'webhook-token-abc') {
      const file = join(pki.dir, `webhook-${Math.random().toString(36).slice(2)}.kubeconfig`);
      writeFileSync(file, ['apiVersion: v1', 'kind: Config', 'clusters:', '- name: audit', '  cluster:', `    server: ${url}`, `    certificate-authority: ${pki.caFile}`, 'users:', '- name: kubegate', `  user: {token: ${token}}`, 'contexts:', '- name: audit', '  context: {cluster: audit, user: kubegate}', 'current-context: audit', ''].join('\n'));
      return file;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
