/**
 * Optional notification of grant events: each event is POSTed as JSON to `elevation.notify.webhookUrl`
 * (a chat or paging integration), in the background, with retries (1 s, 2 s, 4 s). Failing to notify is
 * logged and never blocks or undoes a grant. TLS is verified (system roots, or `notify.caFile`).
 */
import https from 'node:https';
import type { Logger } from 'winston';
import type { GrantEvent } from './grants.js';

export interface Notifier {
  notify(event: GrantEvent): void;
  /** Resolves when every notification in flight has been delivered or given up. */
  flush(): Promise<void>;
}

export interface NotifierSettings {
  webhookUrl: string;
  ca?: string | undefined;
  log: Logger;
  /** Delays between attempts, in ms (default 1000, 2000, 4000: four attempts). */
  retryDelaysMs?: readonly number[];
  timeoutMs?: number;
}

/** The JSON body: the event, the grant as plain data. Never a token. */
export function notificationBody(event: GrantEvent): string {
  return JSON.stringify({
    kind: 'ElevationEvent',
    apiVersion: 'kubegate.io/v1alpha1',
    event: event.kind,
    actor: event.actor,
    at: event.at.toISOString(),
    ...(event.elevation && { elevation: event.elevation }),
    ...(event.request && { request: event.request }),
    ...(event.refusal && { refusal: event.refusal }),
  });
}

export function createNotifier(s: NotifierSettings): Notifier {
  const url = new URL(s.webhookUrl);
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ...(s.ca !== undefined && { ca: s.ca }) });
  const delays = s.retryDelaysMs ?? [1000, 2000, 4000];
  const pending = new Set<Promise<void>>();

  const post = (body: string) =>
    new Promise<void>((resolve, reject) => {
      const req = https.request(url, { method: 'POST', agent, timeout: s.timeoutMs ?? 5000, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
        res.resume();
        const code = res.statusCode ?? 0;
        if (code >= 200 && code < 300) resolve();
        else reject(new Error(`HTTP ${code}`));
      });
      req.on('timeout', () => req.destroy(new Error('timed out')));
      req.on('error', reject);
      req.end(body);
    });

  const deliver = async (event: GrantEvent) => {
    const body = notificationBody(event);
    for (let attempt = 0; ; attempt++) {
      try {
        await post(body);
        return;
      } catch (err) {
        const delay = delays[attempt];
        const facts = { event: event.kind, elevation: event.elevation?.id, webhook: url.origin, attempt: attempt + 1, error: (err as Error).message };
        if (delay === undefined) return void s.log.error('elevation notification failed; giving up', facts);
        s.log.warn('elevation notification failed; retrying', facts);
        await new Promise((r) => setTimeout(r, delay).unref());
      }
    }
  };

  return {
    notify(event) {
      const work = deliver(event);
      pending.add(work);
      void work.finally(() => pending.delete(work));
    },
    async flush() {
      await Promise.allSettled([...pending]);
    },
  };
}
