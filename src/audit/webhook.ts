/**
 * The webhook backend, like kube-apiserver's `--audit-webhook-config-file`: the file is a kubeconfig
 * whose current context names the receiver (`server` URL, `certificate-authority`, optionally a client
 * certificate or a token). Records are POSTed as `audit.k8s.io/v1` `EventList` bodies.
 *
 * Records wait in a bounded buffer (`bufferSize`). In `batch` mode a POST carries up to `batchMaxSize`
 * records and leaves once that many are waiting or the oldest has waited `batchMaxWaitMs`; in
 * `blocking` mode every record leaves at once on its own. One POST is in flight at a time. A POST that
 * fails (connection error, non-2xx) is retried with exponential backoff from `initialBackoffMs` (capped
 * at a minute), its records staying in the buffer, so nothing is lost while the buffer has room. A
 * record that finds the buffer full is dropped, counted and logged, and the backend is unhealthy (for
 * fail-closed) until a POST succeeds again with room in the buffer. In `blocking` mode the backend is
 * unhealthy from the first failed POST until one succeeds. close() sends what is buffered at once; if the
 * receiver still fails after {@link SHUTDOWN_TRIES} quick tries, the rest is counted as dropped.
 */
import { readFileSync } from 'node:fs';
import { request, type RequestOptions } from 'node:https';
import { importKubeConfig } from '../upstream/kube-config.js';
import type { Logger } from 'winston';
import { KubegateError } from '../errors/errors.js';
import type { AuditBackend, BackendEvents } from './sink.js';

export interface WebhookSettings {
  configFile: string;
  mode: 'batch' | 'blocking';
  bufferSize: number;
  batchMaxSize: number;
  batchMaxWaitMs: number;
  initialBackoffMs: number;
}

export interface WebhookTarget {
  url: URL;
  options: RequestOptions;
}

const MAX_BACKOFF_MS = 60_000;
/** Attempts at shutdown before what is still buffered is given up (and counted). */
const SHUTDOWN_TRIES = 3;
const REQUEST_TIMEOUT_MS = 30_000;

/** The receiver named by a kubeconfig. @throws KubegateError CONFIG_INVALID naming the file and what is wrong. */
export async function loadWebhookTarget(file: string): Promise<WebhookTarget> {
  const fail = (why: string, cause?: unknown) => new KubegateError('CONFIG_INVALID', `audit.webhook.configFile (--audit-webhook-config-file): ${file}: ${why}`, { cause });
  try {
    readFileSync(file);
  } catch (err) {
    throw fail(`cannot read: ${(err as Error).message}`, err);
  }
  const kc = new (await importKubeConfig())();
  try {
    kc.loadFromFile(file);
  } catch (err) {
    throw fail(`not a kubeconfig: ${(err as Error).message}`, err);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw fail('no current cluster (set current-context, or give the file one cluster and context)');
  let url: URL;
  try {
    url = new URL(cluster.server);
  } catch {
    throw fail(`clusters[].cluster.server is not a URL: ${JSON.stringify(cluster.server)}`);
  }
  if (url.protocol !== 'https:') throw fail(`clusters[].cluster.server must be an https URL, got ${JSON.stringify(cluster.server)}`);
  if (cluster.skipTLSVerify) throw fail('insecure-skip-tls-verify is not allowed for the audit webhook');
  const options: RequestOptions = {};
  try {
    await kc.applyToHTTPSOptions(options);
  } catch (err) {
    throw fail(`cannot load its credentials: ${(err as Error).message}`, err);
  }
  return { url, options };
}

export function createWebhookBackend(s: WebhookSettings, target: WebhookTarget, events: BackendEvents, log: Logger): AuditBackend {
  const name = 'webhook';
  const buffer: string[] = [];
  let inFlight = false;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let ok = true;
  let closing = false;
  let closingFailures = 0;
  let idle: (() => void) | undefined;
  const maxBatch = s.mode === 'blocking' ? 1 : s.batchMaxSize;
  const setOk = (value: boolean) => {
    if (ok === value) return;
    ok = value;
    events.health(name, value);
  };

  const schedule = (delayMs: number) => {
    if (timer !== undefined || inFlight) return;
    timer = setTimeout(() => {
      timer = undefined;
      send();
    }, delayMs);
    if (!closing) timer.unref?.();
  };

  const send = () => {
    if (inFlight || buffer.length === 0) {
      if (buffer.length === 0) idle?.();
      return;
    }
    clearTimeout(timer);
    timer = undefined;
    inFlight = true;
    const batch = buffer.slice(0, maxBatch);
    const body = `{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[${batch.join(',')}]}`;
    post(target, body).then(
      () => {
        inFlight = false;
        buffer.splice(0, batch.length);
        if (failures > 0) log.info('audit webhook accepting records again', { afterFailures: failures });
        failures = 0;
        if (buffer.length < s.bufferSize) setOk(true);
        next();
      },
      (err: Error) => {
        inFlight = false;
        failures++;
        if (s.mode === 'blocking') setOk(false);
        const delay = Math.min(s.initialBackoffMs * 2 ** (failures - 1), MAX_BACKOFF_MS);
        log.warn('audit webhook failed; retrying', { error: err.message, records: batch.length, buffered: buffer.length, retryInMs: delay });
        if (closing) {
          // Shutting down: a few quick retries, then the loss is counted rather than holding the exit.
          if (++closingFailures >= SHUTDOWN_TRIES) {
            events.dropped(name, buffer.length, 'the audit webhook was still failing at shutdown');
            buffer.length = 0;
            return idle?.();
          }
          return schedule(Math.min(delay, 1000));
        }
        schedule(delay);
      },
    );
  };

  /** After a success: send the next batch now if one is full (or we are flushing), else wait for it to fill. */
  const next = () => {
    if (buffer.length === 0) return idle?.();
    if (buffer.length >= maxBatch || closing || s.mode === 'blocking') send();
    else schedule(s.batchMaxWaitMs);
  };

  return {
    name,
    write(line) {
      if (buffer.length >= s.bufferSize) {
        setOk(false);
        events.dropped(name, 1, 'the audit webhook buffer is full');
        return;
      }
      buffer.push(line);
      if (failures > 0) return; // waiting for the retry
      if (buffer.length >= maxBatch) send();
      else schedule(s.batchMaxWaitMs);
    },
    healthy: () => ok,
    close() {
      closing = true;
      if (buffer.length === 0 && !inFlight) return Promise.resolve();
      return new Promise<void>((resolve) => {
        idle = resolve;
        // Send now, whatever the batch wait or backoff said.
        clearTimeout(timer);
        timer = undefined;
        send();
      });
    },
  };
}

function post(target: WebhookTarget, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request(target.url, { ...target.options, method: 'POST', agent: false, timeout: REQUEST_TIMEOUT_MS, headers: { ...(target.options.headers ?? {}), 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => {
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(new Error(`the receiver answered ${code}`));
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('the receiver did not answer in time')));
    req.on('error', reject);
    req.end(body);
  });
}
