/**
 * The HTTP/1.1 upstream client and Nagle: a POST whose body reaches kubegate in two pieces (its last one a
 * tick later, as a streamed client body does), sent chunked to a server that answers once the whole body
 * is in, as the API server does. kubegate's client (src/proxy/h1-client.ts, TCP_NODELAY on its sockets)
 * beside the same request over `node:https` with the agent's default (Nagle on), in one run, alternating.
 * `npx tsx bench/micro-upstream-nodelay.ts [requests per round, default 60]`
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { createH1Client } from '../src/proxy/h1-client.js';
import { createPki } from '../test/support/pki.js';

const N = Number(process.argv[2] ?? 60);
const pki = createPki();
const pair = pki.server();
const server = https.createServer({ cert: pair.cert, key: pair.key, keepAliveTimeout: 60_000 }, (req, res) => {
  req.resume();
  req.on('end', () => res.end('{"kind":"Status","status":"Success"}'));
});
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const target = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
const piece = Buffer.from(`{"kind":"ConfigMap","data":{"a":"${'x'.repeat(500)}"}}`);

/** A body that arrives in two pieces, the second (and its end) on a later timer tick. */
function body(): PassThrough {
  const b = new PassThrough();
  b.write(piece);
  setTimeout(() => b.end(piece), 1);
  return b;
}

const kgAgent = new https.Agent({ keepAlive: true, ca: pki.ca, servername: 'localhost' });
const kubegate = createH1Client({ target, agent: () => kgAgent });
async function viaKubegate(): Promise<void> {
  const r = await kubegate.request({ method: 'POST', path: '/api/v1/namespaces/default/configmaps', headers: {}, body: body(), signal: new AbortController().signal, idleMs: 0, onSent: () => {} });
  for await (const _ of r.body) void _;
}

const plainAgent = new https.Agent({ keepAlive: true, ca: pki.ca, servername: 'localhost' });
function viaPlainHttps(): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = https.request({ host: target.hostname, port: target.port, method: 'POST', path: '/api/v1/namespaces/default/configmaps', agent: plainAgent, headers: { 'transfer-encoding': 'chunked' } }, (res) => {
      res.resume();
      res.on('end', resolve);
    });
    req.on('error', reject);
    body().pipe(req);
  });
}

const runs: Record<string, () => Promise<void>> = { 'kubegate h1-client (TCP_NODELAY)': viaKubegate, 'node:https agent default (Nagle on)': viaPlainHttps };
const ms: Record<string, number[]> = {};
for (let round = 0; round < 3; round++) {
  for (const [name, fn] of Object.entries(runs)) {
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      await fn();
      if (round > 0) (ms[name] ??= []).push(performance.now() - t0); // round 0 warms up
    }
  }
}
for (const [name, xs] of Object.entries(ms)) {
  xs.sort((a, b) => a - b);
  console.log(`${name.padEnd(40)} p50 ${xs[Math.floor(xs.length / 2)]!.toFixed(2)} ms   p90 ${xs[Math.floor(xs.length * 0.9)]!.toFixed(2)} ms   (${xs.length} requests; each includes the 1 ms gap between the body's pieces)`);
}
kgAgent.destroy();
plainAgent.destroy();
server.close();
pki.cleanup();
