/**
 * Open-loop load at a fixed rate, as its own process, timing each request with hrtime (µs resolution;
 * autocannon's histogram rounds to whole milliseconds). argv[2]: JSON {url, rate, seconds, connections, token?, h2?}.
 * h2: HTTP/2 over `connections` sessions, requests spread round-robin; otherwise HTTP/1.1 keep-alive sockets.
 * The warm-up requests (one per connection, each with its TLS handshake) are not counted: they used to
 * be, 16 handshakes in ~5,000 samples, enough to move the p99.
 * Prints JSON {sent, ok, p50us, p99us, maxus, slow}: `slow` lists the runs of slow requests (≥ 2 ms and
 * ≥ half the p99) as "start×count/max", grouped when sent within 100 ms of each other.
 * Trust for the server's CA comes from NODE_EXTRA_CA_CERTS.
 */
import http2 from 'node:http2';
import https from 'node:https';

const o = JSON.parse(process.argv[2]!) as { url: string; rate: number; seconds: number; connections: number; token?: string; h2?: boolean };
const auth: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
const latencies: number[] = [];
const samples: [number, number][] = []; // [start ms since t0, latency µs]
let t0 = 0;
let sent = 0;
let ok = 0;
let inflight = 0;

/** One GET; calls back with the status (0 on error). */
type Get = (done: (status: number) => void) => void;

function h1Client(): { get: Get; close(): void } {
  const agent = new https.Agent({ keepAlive: true, maxSockets: o.connections });
  return {
    get: (done) => {
      const req = https
        .get(o.url, { agent, headers: auth }, (res) => {
          res.resume();
          res.on('end', () => done(res.statusCode ?? 0));
        })
        .on('error', () => done(0));
      req.setNoDelay(true); // node:https's agent leaves Nagle on; a GET is one write, but no doubt
    },
    close: () => agent.destroy(),
  };
}

function h2Client(): { get: Get; close(): void } {
  const url = new URL(o.url);
  const sessions = Array.from({ length: o.connections }, () => http2.connect(url.origin).on('error', () => {}));
  const headers = { ':path': url.pathname + url.search, ...auth };
  let next = 0;
  return {
    get: (done) => {
      let status = 0;
      const stream = sessions[next++ % sessions.length]!.request(headers);
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.on('error', () => {});
      stream.on('close', () => done(status));
      stream.resume();
      stream.end();
    },
    close: () => sessions.forEach((s) => s.close()),
  };
}

const client = o.h2 ? h2Client() : h1Client();

function one(): void {
  const start = process.hrtime.bigint();
  inflight++;
  client.get((status) => {
    inflight--;
    if (status === 200) {
      ok++;
      const us = Number(process.hrtime.bigint() - start) / 1000;
      latencies.push(us);
      samples.push([performance.now() - t0 - us / 1000, us]);
    }
  });
}

// warm the connections first
await new Promise<void>((resolve) => {
  let done = 0;
  for (let i = 0; i < o.connections; i++) client.get(() => ++done === o.connections && resolve());
});

t0 = performance.now();
latencies.length = 0; // the warm-up does not count
samples.length = 0;
await new Promise<void>((resolve) => {
  const tick = () => {
    const elapsed = (performance.now() - t0) / 1000;
    if (elapsed >= o.seconds) return resolve();
    const due = Math.floor(elapsed * o.rate);
    while (sent < due) {
      sent++;
      one();
    }
    setTimeout(tick, 1);
  };
  tick();
});
const drainUntil = performance.now() + 30_000;
while (inflight > 0 && performance.now() < drainUntil) await new Promise((r) => setTimeout(r, 5));
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
const slowUs = Math.max(2000, pct(99) / 2);
const clusters: { at: number; n: number; max: number }[] = [];
for (const [at, us] of samples.sort((a, b) => a[0] - b[0])) {
  if (us < slowUs) continue;
  const last = clusters.at(-1);
  if (last && at - last.at < 100) { last.n++; last.max = Math.max(last.max, us); }
  else clusters.push({ at, n: 1, max: us });
}
const slow = `${clusters.length} clusters ≥ ${(slowUs / 1000).toFixed(1)} ms: ` + clusters.map((c) => `${(c.at / 1000).toFixed(2)}s×${c.n}/${(c.max / 1000).toFixed(0)}ms`).join(' ');
process.stdout.write(JSON.stringify({ sent, ok, p50us: pct(50), p99us: pct(99), maxus: latencies.at(-1) ?? NaN, slow }) + '\n');
client.close();
