/**
 * Grant notifications: POSTed as JSON to a webhook over verified TLS, retried after failures, given up
 * (and logged) after the last retry, never carrying a token. A loopback HTTPS receiver stands in for the
 * chat or paging integration and records what it received.
 */
import t from 'tap';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { createNotifier } from '../../src/elevation/notify.js';
import type { GrantEvent } from '../../src/elevation/grants.js';
import { captureLogger } from '../support/logs.js';
import { createPki } from '../support/pki.js';

const EVENT: GrantEvent = {
  kind: 'approved',
  actor: 'carol@example.com',
  at: new Date('2026-11-27T10:00:00Z'),
  elevation: { id: 'elev-1', requester: 'alice@example.com', groups: ['break-glass:admin'], durationSeconds: 900, reason: 'INC-1 failover', rule: 'sre', phase: 'Active', createdAt: '2026-11-27T09:59:00Z', approvedBy: 'carol@example.com' },
};

t.test('notifications', async (t) => {
  const pki = createPki();
  t.teardown(() => pki.cleanup());
  const serving = pki.server();
  const received: { status: number; body: string; type: string | undefined }[] = [];
  let answers: number[] = [];
  const server = createServer({ cert: serving.cert, key: serving.key }, (req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const status = answers.shift() ?? 204;
      received.push({ status, body, type: req.headers['content-type'] });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;

  t.test('delivered as JSON after two failures', async (t) => {
    const { log, lines } = captureLogger();
    const notifier = createNotifier({ webhookUrl: url, ca: pki.ca, log, retryDelaysMs: [1, 1, 1] });
    received.length = 0;
    answers = [500, 503];
    notifier.notify(EVENT);
    await notifier.flush();
    t.same(received.map((r) => r.status), [500, 503, 204], 'retried until accepted');
    t.equal(received[2]?.type, 'application/json');
    t.match(JSON.parse(received[2]!.body), { kind: 'ElevationEvent', event: 'approved', actor: 'carol@example.com', elevation: { id: 'elev-1', reason: 'INC-1 failover' } });
    t.equal(lines.filter((l) => l.level === 'warn').length, 2, 'each failure logged');
  });

  t.test('given up after the last retry, and logged as an error', async (t) => {
    const { log, lines } = captureLogger();
    const notifier = createNotifier({ webhookUrl: url, ca: pki.ca, log, retryDelaysMs: [1, 1] });
    received.length = 0;
    answers = [500, 500, 500, 500];
    notifier.notify(EVENT);
    await notifier.flush();
    t.equal(received.length, 3, 'one attempt and two retries');
    t.equal(lines.filter((l) => l.level === 'error' && /giving up/.test(l.message)).length, 1);
  });

  t.test('TLS is verified: an untrusted webhook is never sent the event', async (t) => {
    const { log, lines } = captureLogger();
    const notifier = createNotifier({ webhookUrl: url, log, retryDelaysMs: [] });
    received.length = 0;
    notifier.notify(EVENT);
    await notifier.flush();
    t.equal(received.length, 0);
    t.match(lines.at(-1), { level: 'error', error: /certificate|self.signed|issuer/i });
  });
});
