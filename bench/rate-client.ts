/**
 * Open-loop load at a fixed rate, as its own process, timing each request with hrtime (µs resolution;
 * autocannon's histogram rounds to whole milliseconds). argv[2]: JSON {url, rate, seconds, connections, token?}.
 * Prints JSON {sent, ok, p50us, p99us}.
 */
import https from 'node:https';

const o = JSON.parse(process.argv[2]!) as { url: string; rate: number; seconds: number; connections: number; token?: string };
const agent = new https.Agent({ keepAlive: true, maxSockets: o.connections });
const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
const latencies: number[] = [];
let sent = 0;
let ok = 0;
let inflight = 0;

function one(): void {
  const start = process.hrtime.bigint();
  inflight++;
  const req = https.get(o.url, { agent, headers }, (res) => {
    res.resume();
    res.on('end', () => {
      inflight--;
      if (res.statusCode === 200) {
        ok++;
        latencies.push(Number(process.hrtime.bigint() - start) / 1000);
      }
    });
  });
  req.on('error', () => inflight--);
}

// warm the connections first
await new Promise<void>((resolve) => {
  let done = 0;
  for (let i = 0; i < o.connections; i++) {
    https.get(o.url, { agent, headers }, (res) => {
      res.resume();
      res.on('end', () => ++done === o.connections && resolve());
    });
  }
});

const t0 = performance.now();
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
while (inflight > 0) await new Promise((r) => setTimeout(r, 5));
latencies.sort((a, b) => a - b);
const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? NaN;
process.stdout.write(JSON.stringify({ sent, ok, p50us: pct(50), p99us: pct(99) }) + '\n');
agent.destroy();
