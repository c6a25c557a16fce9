/**
 * `kubegate serve` (a child process) with the audit log and the webhook both in batch mode with a
 * one-hour wait, so nothing is written before shutdown: SIGTERM writes out every record to both, with
 * one process and with `--workers 2` (the workers' records reach the primary, the one writer).
 */
import t from 'tap';
import { readFileSync, existsSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { serveWorld, spawnServe } from '../support/serve-child.js';
import { eventually, within } from '../support/wait.js';
import { startReceiver } from '../audit/webhook-receiver.js';

for (const workers of [1, 2]) {
  t.test(`SIGTERM flushes the audit log and the webhook (workers: ${workers})`, async (t) => {
    const world = await serveWorld(t);
    const receiver = await startReceiver(world.pki);
    t.teardown(() => receiver.close());
    const auditFile = join(world.pki.dir, `audit-${workers}.log`);
    const serve = spawnServe(t, [
      ...world.baseFlags,
      ...(workers > 1 ? ['--workers', String(workers)] : []),
      '--metrics-bind-address', '0',
      '--audit-log-path', auditFile,
      '--audit-log-mode', 'batch',
      '--audit-log-batch-max-wait', '3600',
      '--audit-webhook-config-file', receiver.kubeconfig(),
      '--audit-webhook-batch-max-wait', '3600',
    ]);
    // (A wider cap than serve.logged's: under a loaded machine a primary and two workers start slowly.)
    const logLines = (pattern: RegExp) => serve.log().split('\n').filter((l) => pattern.test(l));
    await eventually('every process to serve with the issuer keys loaded', () => (logLines(/oidc issuer ready/).length >= workers && logLines(/"message":"kubegate serving"/).length >= workers ? true : undefined), 90_000, 50);
    const port = /"address":"127\.0\.0\.1:(\d+)"/.exec(logLines(/"message":"kubegate serving"/)[0]!)![1]!;
    const token = await world.issuer.mintIdToken({ sub: 'f', claims: { email: 'flush@example.com' } });
    const N = 20;
    const statuses = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        new Promise<number>((resolve, reject) => {
          request(`https://127.0.0.1:${port}/version?flush=${i}`, { ca: world.pki.ca, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          }).on('error', reject).end();
        }),
      ),
    );
    t.same(statuses, Array(N).fill(200));
    t.equal(receiver.items.length, 0, 'a partial batch waits (an hour) at the webhook');
    const written = existsSync(auditFile) ? readFileSync(auditFile, 'utf8') : '';
    t.equal(written.split('\n').filter((l) => l.includes('flush=')).length, 0, 'and in the log');
    serve.child.kill('SIGTERM');
    t.equal(await within(serve.exited, 30_000, 'kubegate to exit'), 0, 'exit 0');
    const lines = readFileSync(auditFile, 'utf8').split('\n').filter(Boolean);
    t.equal(lines.filter((l) => l.includes('/version?flush=')).length, N, 'every record in the log after SIGTERM');
    t.ok(readFileSync(auditFile, 'utf8').endsWith('\n'), 'ending with a newline');
    t.equal(receiver.items.filter((e) => e.requestURI.startsWith('/version?flush=')).length, N, 'every record at the webhook after SIGTERM');
  });
}
