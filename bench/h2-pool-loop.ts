/**
 * A quick loop for the HTTP/2 pool (src/proxy/h2-pool.ts), not part of `npm run bench`: small GETs from
 * one process to an HTTP/2 server (h2 + HTTP/1.1 on one port) in a child process, in the same run:
 * - `h2-pool`: createH2Pool().request() with idleMs 30 s, body read to its end (`h2-pool-idle0`: idleMs 0);
 * - `raw-session`: one bare `http2.connect` session, `session.request()` (the floor for node:http2);
 * - `https-agent`: `https.request` over a keep-alive `https.Agent` (today's upstream client);
 * then the memory of 1,000 streams held open through the pool (heap and RSS per stream, after GC).
 *
 *   npx tsx --expose-gc bench/h2-pool-loop.ts [requests=20000] [concurrency=32] [rounds=3]
 */
import { fork, type ChildProcess } from 'node:child_process';
import http2 from 'node:http2';
import https from 'node:https';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createPki } from '../test/support/pki.js';
import { createH2Pool } from '../src/proxy/h2-pool.js';

if (process.argv[2] === '--server') {
  const [cert, key] = [process.env.CERT!, process.env.KEY!];
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success', code: 200 });
  const held: http2.Http2ServerResponse[] = [];
  const server = http2.createSecureServer({ cert, key, allowHTTP1: true, settings: { maxConcurrentStreams: 1000 } }, (req, res) => {
    if (req.url === '/hold') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED"}\n');
      held.push(res);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as AddressInfo).port }));
} else {
  const [requests = 20000, concurrency = 32, rounds = 3] = process.argv.slice(2).map(Number);
  const pki = createPki();
  const serving = pki.server();
  const child: ChildProcess = fork(fileURLToPath(import.meta.url), ['--server'], { env: { ...process.env, CERT: serving.cert, KEY: serving.key }, execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m: { port: number }) => resolve(m.port)));
  const origin = new URL(`https://127.0.0.1:${port}`);
  const secureContext = tls.createSecureContext({ ca: pki.ca });

  /** Requests per second and this process's CPU µs per request (the server runs in the child). */
  const loop = async (one: () => Promise<void>): Promise<{ rps: number; cpu: number }> => {
    let next = 0;
    const start = performance.now();
    const cpu0 = process.cpuUsage();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < requests) await one();
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    return { rps: requests / ((performance.now() - start) / 1000), cpu: (cpu.user + cpu.system) / requests };
  };

  const pool = createH2Pool({ origin, tls: () => ({ ca: pki.ca, secureContext }) });
  // One signal for all (never aborted): the bench measures the pool, not AbortController's construction.
  const signal = new AbortController().signal;
  const onSent = () => {};
  const poolWith = (idleMs: number) => async () => {
    const r = await pool.request({ method: 'GET', path: '/api/v1/namespaces/default/pods/x', headers: { accept: 'application/json' }, body: null, signal, idleMs, onSent });
    await new Promise<void>((resolve, reject) => {
      r.body.on('error', reject);
      r.body.on('end', resolve);
      r.body.resume();
    });
  };
  const poolOne = poolWith(30_000);
  const poolNoIdle = poolWith(0);
  const session = http2.connect(origin.origin, { ca: pki.ca, secureContext });
  const rawOne = () =>
    new Promise<void>((resolve, reject) => {
      const s = session.request({ ':path': '/api/v1/namespaces/default/pods/x', accept: 'application/json' }, { endStream: true });
      s.on('error', reject);
      s.resume();
      s.on('end', () => resolve());
    });
  const agent = new https.Agent({ keepAlive: true, ca: pki.ca, maxSockets: concurrency });
  const h1One = () =>
    new Promise<void>((resolve, reject) => {
      const q = https.request(`${origin.origin}/api/v1/namespaces/default/pods/x`, { agent, headers: { accept: 'application/json' } }, (res) => {
        res.resume();
        res.on('end', () => resolve());
      });
      q.on('error', reject);
      q.end();
    });

  const results: Record<string, { rps: number; cpu: number }[]> = { 'h2-pool': [], 'h2-pool-idle0': [], 'raw-session': [], 'https-agent': [] };
  await loop(poolOne); // warm-up
  await loop(rawOne);
  await loop(h1One);
  for (let r = 0; r < rounds; r++) {
    results['h2-pool']!.push(await loop(poolOne));
    results['h2-pool-idle0']!.push(await loop(poolNoIdle));
    results['raw-session']!.push(await loop(rawOne));
    results['https-agent']!.push(await loop(h1One));
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const base = median(results['raw-session']!.map((x) => x.rps));
  const baseCpu = median(results['raw-session']!.map((x) => x.cpu));
  for (const [name, xs] of Object.entries(results)) {
    const rps = median(xs.map((x) => x.rps));
    const cpu = median(xs.map((x) => x.cpu));
    console.log(`${name.padEnd(14)} ${String(Math.round(rps)).padStart(6)} req/s (${(rps / base).toFixed(2)}x raw-session), client CPU ${cpu.toFixed(1)} µs/request (${(cpu / baseCpu).toFixed(2)}x) — medians of ${rounds}`);
  }

  // Memory: 1,000 streams held open through the pool.
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = () => {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    return { heap: m.heapUsed + m.external + m.arrayBuffers, rss: m.rss };
  };
  const N = 1000;
  const before = measure();
  const held = await Promise.all(
    Array.from({ length: N }, () => pool.request({ method: 'GET', path: '/hold', headers: {}, body: null, signal: new AbortController().signal, idleMs: 0, onSent() {} })),
  );
  await Promise.all(held.map((r) => new Promise((resolve) => r.body.once('data', resolve))));
  const after = measure();
  console.log(`1,000 open streams over ${pool.stats().sessions} session(s): ${((after.heap - before.heap) / N / 1024).toFixed(1)} KB heap+external per stream, ${((after.rss - before.rss) / N / 1024).toFixed(1)} KB RSS per stream${gc ? '' : ' (run with --expose-gc for stable numbers)'}`);
  for (const r of held) r.body.destroy();
  pool.destroy();
  session.destroy();
  agent.destroy();
  child.kill();
  pki.cleanup();
}
