/**
 * `npm run bench`: kubegate against a direct connection and nginx (when installed) on loopback, in one
 * run, alternating targets, printing medians, ratios and each target's pass/miss. Results go to
 * docs/benchmarks.json and docs/benchmarks.md. Not part of `npm test`.
 *
 * Env: BENCH_ROUNDS (3), BENCH_SECONDS (5), BENCH_WATCHES (9000), BENCH_LIST_MB (200),
 * BENCH_ONLY (e.g. "1,5": run only those scenarios), BENCH_CPU_PROF (a directory: profile kubegate with --cpu-prof),
 * BENCH_WORKERS (kubegate worker processes, default 1; the audit on/off comparison always uses 1).
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import https from 'node:https';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createOidcAuthenticator } from '../src/authn/oidc.js';
import { silentLogger } from '../src/log/logger.js';
import { kubeconfigYaml } from '../test/support/harness.js';
import { createPki } from '../test/support/pki.js';
import { startBenchIssuer } from './issuer.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WATCHES = Number(process.env.BENCH_WATCHES ?? 9000);
const LIST_MB = Number(process.env.BENCH_LIST_MB ?? 200);
const ROOT = new URL('..', import.meta.url).pathname;
const SMALL = '/api/v1/namespaces/default/configmaps/small';
const cpuPerRequest: Record<string, number[]> = {};
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const runs = (n: string) => !ONLY || ONLY.includes(n);

interface Row { scenario: string; metric: string; value: number; unit: string; target?: string; pass?: boolean }
const rows: Row[] = [];
const record = (r: Row) => {
  rows.push(r);
  const verdict = r.pass === undefined ? '' : r.pass ? '  PASS' : '  MISS';
  console.log(`  ${r.metric.padEnd(58)} ${fmt(r.value).padStart(12)} ${r.unit.padEnd(8)} ${r.target ? `target ${r.target}` : ''}${verdict}`);
};
const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(3)) : 'n/a');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const pki = createPki();
const serving = pki.server();
const cleanups: (() => unknown)[] = [() => pki.cleanup()];
process.on('exit', () => cleanups.reverse().forEach((c) => { try { c(); } catch { /* best effort */ } }));

const tsxArgs = ['--import', 'tsx'];
const childEnv = { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile };

// --- the upstream --------------------------------------------------------------------------------
const upstream = fork(join(ROOT, 'bench/upstream.ts'), [serving.certFile, serving.keyFile], { execArgv: tsxArgs, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
cleanups.push(() => upstream.kill());
const upstreamPort = ((await nextMessage(upstream)) as { port: number }).port;
const direct = `https://127.0.0.1:${upstreamPort}`;
const upstreamKubeconfig = join(pki.dir, 'upstream.kubeconfig');
writeFileSync(upstreamKubeconfig, kubeconfigYaml(direct, pki.caFile, 'bench-service-account-token'));

// --- issuer and tokens ---------------------------------------------------------------------------
const issuer = await startBenchIssuer(serving.cert, serving.key, 'kubegate');
cleanups.push(() => void issuer.close());
const token = await issuer.sign('RS256', { sub: 'bench-user', email: 'bench@example.com', groups: ['bench'] });

const baseConfig = {
  server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
  oidc: { issuerUrl: issuer.url, clientId: 'kubegate', caFile: pki.caFile, usernameClaim: 'email', groupsClaim: 'groups', signingAlgs: ['RS256', 'ES256'] },
  upstream: { kubeconfig: upstreamKubeconfig },
  audit: { logPath: join(pki.dir, 'audit.log') },
};

async function startKubegateChild(auditOff = false, workers = Number(process.env.BENCH_WORKERS ?? 1)): Promise<{ url: string; child: ChildProcess }> {
  const prof = process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
  const child = spawn(process.execPath, [...prof, ...tsxArgs, join(ROOT, 'bench/kubegate-child.ts')], {
    env: { ...childEnv, BENCH_CONFIG: JSON.stringify(baseConfig), BENCH_AUDIT: auditOff ? 'off' : 'on', BENCH_WORKERS: String(workers) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill());
  const port = await new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`kubegate exited with ${code}`)));
  });
  return { url: `https://127.0.0.1:${port}`, child };
}
const kubegate = await startKubegateChild();
const nginx = startNginx();
const floor = process.env.BENCH_FLOOR ? await startFloor() : undefined;
const allTargets: Record<string, string> = { direct, kubegate: kubegate.url, ...(nginx ? { nginx } : {}), ...(floor ? { 'node floor': floor } : {}) };
// BENCH_TARGETS=kubegate limits scenario 1's throughput runs (for profiling one target).
const targets = Object.fromEntries(Object.entries(allTargets).filter(([n]) => !process.env.BENCH_TARGETS || process.env.BENCH_TARGETS.split(',').includes(n) || n === 'direct' || n === 'kubegate'));
const throughputTargets = Object.keys(targets).filter((n) => !process.env.BENCH_TARGETS || process.env.BENCH_TARGETS.split(',').includes(n));

console.log(`kubegate benchmark — ${cpus().length} cores, node ${process.version}, rounds ${ROUNDS} × ${SECONDS}s, kubegate workers ${process.env.BENCH_WORKERS ?? 1}`);
if (!nginx) console.log('  (nginx not installed: its column is skipped; install it with `apt-get install nginx-light`)');

if (runs('1')) {
// --- 1. small GET, one user, 64 connections ----------------------------------------------------------
console.log('\n1. small GET, 1 user, 64 connections');
const s1 = await alternate(throughputTargets, (name) => throughput(targets[name]! + SMALL, 64, name === 'kubegate' ? token : undefined));
for (const [name, rps] of Object.entries(s1)) record({ scenario: '1', metric: `throughput ${name}`, value: rps, unit: 'req/s' });
if (s1.direct) record({ scenario: '1', metric: 'throughput kubegate / direct', value: s1.kubegate! / s1.direct, unit: '×' });
record({ scenario: '1', metric: 'kubegate CPU per request (median)', value: median(cpuPerRequest.one ?? []), unit: 'µs' });
if (s1.nginx) record({ scenario: '1', metric: 'throughput kubegate / nginx', value: s1.kubegate! / s1.nginx, unit: '×', target: '≥ 0.8', pass: s1.kubegate! / s1.nginx >= 0.8 });
if (!process.env.BENCH_TARGETS) {
const lat = await alternate(['direct', 'kubegate'], (name) => rateLatency(targets[name]! + SMALL, name === 'kubegate' ? token : undefined), 2);
record({ scenario: '1', metric: 'added latency p50 at 1,000 req/s', value: (lat.kubegate!.p50us - lat.direct!.p50us) / 1000, unit: 'ms', target: '≤ 0.25', pass: (lat.kubegate!.p50us - lat.direct!.p50us) / 1000 <= 0.25 });
record({ scenario: '1', metric: 'added latency p99 at 1,000 req/s', value: (lat.kubegate!.p99us - lat.direct!.p99us) / 1000, unit: 'ms', target: '≤ 1', pass: (lat.kubegate!.p99us - lat.direct!.p99us) / 1000 <= 1 });
}

}

if (runs('2')) {
// --- 2. 1,000 distinct users ---------------------------------------------------------------------
console.log('\n2. small GET, 1,000 distinct users round-robin');
const tokenFile = join(pki.dir, 'tokens.txt');
const userTokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => issuer.sign('ES256', { sub: `user-${i}`, email: `user-${i}@example.com`, groups: ['bench'] })));
writeFileSync(tokenFile, userTokens.join('\n'));
await throughput(kubegate.url + SMALL, 64, undefined, tokenFile, 2); // fill the identity cache
const s2 = await alternate(['one user', '1,000 users'], (name) => throughput(kubegate.url + SMALL, 64, name === 'one user' ? token : undefined, name === 'one user' ? undefined : tokenFile));
record({ scenario: '2', metric: 'throughput 1,000 users', value: s2['1,000 users']!, unit: 'req/s' });
record({ scenario: '2', metric: 'throughput 1,000 users / 1 user', value: s2['1,000 users']! / s2['one user']!, unit: '×', target: '≥ 0.95', pass: s2['1,000 users']! / s2['one user']! >= 0.95 });

}

if (runs('3')) {
// --- 3. cold authentication ----------------------------------------------------------------------
console.log('\n3. cold authentication (every token new: one signature verification each), in-process, one core');
for (const alg of ['RS256', 'ES256'] as const) {
  const n = 3000;
  const fresh = await Promise.all(Array.from({ length: n }, (_, i) => issuer.sign(alg, { sub: `cold-${i}`, email: `cold-${i}@example.com`, jti: `${alg}-${i}` })));
  const authn = createOidcAuthenticator(
    { issuerUrl: issuer.url, clientId: 'kubegate', ca: pki.ca, signingAlgs: [alg], requiredClaims: {}, clockSkewSeconds: 10, usernameClaim: 'email', groupsPrefix: '', extraClaims: {}, allowSystemNames: false },
    silentLogger(),
  );
  await authn.whenReady();
  const t0 = performance.now();
  for (const tok of fresh) await authn.authenticate(tok);
  const perSec = n / ((performance.now() - t0) / 1000);
  authn.close();
  record({ scenario: '3', metric: `${alg} verifications per second per core`, value: perSec, unit: '/s' });
}

}

if (runs('4')) {
// --- 4. concurrent watches -----------------------------------------------------------------------
console.log(`\n4. ${WATCHES.toLocaleString()} concurrent watches, events fanned out`);
const watchDirect = await watchScenario(direct, undefined, WATCHES);
const watchKg = await watchScenario(kubegate.url, token, WATCHES, kubegate.child.pid!);
record({ scenario: '4', metric: `kubegate RSS with ${WATCHES} watches`, value: watchKg.rssMB, unit: 'MB', target: '≤ 300', pass: watchKg.rssMB <= 300 });
record({ scenario: '4', metric: 'event relay latency p99 direct', value: watchDirect.p99ms, unit: 'ms' });
record({ scenario: '4', metric: 'event relay latency p99 through kubegate', value: watchKg.p99ms, unit: 'ms' });
record({ scenario: '4', metric: 'event relay latency added p99', value: watchKg.p99ms - watchDirect.p99ms, unit: 'ms', target: '≤ 5', pass: watchKg.p99ms - watchDirect.p99ms <= 5 });

}

if (runs('5')) {
// --- 5. large list -------------------------------------------------------------------------------
console.log(`\n5. ${LIST_MB} MB list`);
const big = `/api/v1/big?bytes=${LIST_MB * 1024 * 1024}`;
const s5 = await alternate(['direct', 'kubegate'], async (name) => bigList(targets[name]! + big, name === 'kubegate' ? token : undefined, name === 'kubegate' ? kubegate.child.pid! : undefined), 2);
record({ scenario: '5', metric: 'throughput direct', value: s5.direct!.mbps, unit: 'MB/s' });
record({ scenario: '5', metric: 'throughput kubegate', value: s5.kubegate!.mbps, unit: 'MB/s' });
record({ scenario: '5', metric: 'throughput kubegate / direct', value: s5.kubegate!.mbps / s5.direct!.mbps, unit: '×', target: '≥ 0.8', pass: s5.kubegate!.mbps / s5.direct!.mbps >= 0.8 });
record({ scenario: '5', metric: 'kubegate RSS growth during the list', value: s5.kubegate!.rssGrowthMB, unit: 'MB', target: '≤ 50', pass: s5.kubegate!.rssGrowthMB <= 50 });

}

if (runs('6')) {
// --- 6. audit on vs off --------------------------------------------------------------------------
console.log('\n6. audit on vs off (small GET, 64 connections)');
const withAudit = await startKubegateChild(false, 1);
const noAudit = await startKubegateChild(true, 1);
const s6 = await alternate(['audit on', 'audit off'], (name) => throughput((name === 'audit on' ? withAudit.url : noAudit.url) + SMALL, 64, token));
withAudit.child.kill();
noAudit.child.kill();
const cost = 1 - s6['audit on']! / s6['audit off']!;
record({ scenario: '6', metric: 'throughput cost of audit', value: cost * 100, unit: '%', target: '≤ 10', pass: cost <= 0.1 });

}

if (runs('7')) {
// --- 7. start-up to ready ------------------------------------------------------------------------
console.log('\n7. start-up to ready (compiled dist/, issuer reachable)');
execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: 'inherit' });
const startups: number[] = [];
for (let i = 0; i < ROUNDS; i++) startups.push(await startupToReady());
record({ scenario: '7', metric: 'start-up to ready (median)', value: median(startups), unit: 'ms', target: '≤ 1000', pass: median(startups) <= 1000 });

}

writeResults();
process.exit(0);

// ================================================================================================

function nextMessage(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) => child.once('message', resolve));
}

/** Run `fn` for each name, ROUNDS times, alternating; return each name's median. */
async function alternate<T>(names: string[], fn: (name: string) => Promise<T>, rounds = ROUNDS): Promise<Record<string, T>> {
  const results: Record<string, T[]> = {};
  for (let r = 0; r < rounds; r++) for (const name of names) (results[name] ??= []).push(await fn(name));
  const out: Record<string, T> = {};
  for (const [name, xs] of Object.entries(results)) {
    if (typeof xs[0] === 'number') out[name] = median(xs as number[]) as T;
    else {
      const keys = Object.keys(xs[0] as object);
      out[name] = Object.fromEntries(keys.map((k) => [k, median(xs.map((x) => (x as Record<string, number>)[k]!))])) as T;
    }
  }
  return out;
}

function runChild(script: string, args: object): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...tsxArgs, join(ROOT, script), JSON.stringify(args)], { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out) as Record<string, number>) : reject(new Error(`${script} exited ${code}`))));
  });
}

async function throughput(url: string, connections: number, tok?: string, file?: string, seconds = SECONDS): Promise<number> {
  const kgPid = url.startsWith(kubegate.url) ? kubegate.child.pid : undefined;
  const cpu0 = kgPid ? cpuSeconds(kgPid) : 0;
  const r = await runChild('bench/throughput-client.ts', { url, connections, seconds, token: tok, tokenFile: file });
  if (r.non2xx || r.errors) console.log(`    (warning: ${r.non2xx} non-2xx, ${r.errors} errors against ${url})`);
  if (kgPid) (cpuPerRequest[file ? 'many' : 'one'] ??= []).push(((cpuSeconds(kgPid) - cpu0) * 1e6) / (r.rps! * seconds));
  return r.rps!;
}

/** user+system CPU seconds a process has used so far. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
    ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
  }
  return ticks / 100; // USER_HZ = 100
}

async function rateLatency(url: string, tok?: string): Promise<{ p50us: number; p99us: number }> {
  const r = await runChild('bench/rate-client.ts', { url, rate: 1000, seconds: SECONDS, connections: 16, token: tok });
  return { p50us: r.p50us!, p99us: r.p99us! };
}

/** The process and its children (cluster workers). */
function processTree(pid: number): number[] {
  let children: number[] = [];
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    /* gone */
  }
  return [pid, ...children.flatMap(processTree)];
}

/** Resident memory of a process and its workers, in MB. */
function rssMB(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
    kb += m ? Number(m[1]) : 0;
  }
  return kb / 1024;
}

async function watchScenario(base: string, tok: string | undefined, count: number, pid?: number): Promise<{ rssMB: number; p99ms: number }> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: Infinity, ca: pki.ca });
  const latencies: number[] = [];
  const reqs: import('node:http').ClientRequest[] = [];
  let established = 0;
  await new Promise<void>((resolve, reject) => {
    let opening = 0;
    const openMore = () => {
      // open in waves so the handshakes do not all queue at once
      const until = Math.min(count, opening + 500);
      for (; opening < until; opening++) {
        const req = https.get(`${base}/api/v1/namespaces/default/pods?watch=1`, { agent, headers: tok ? { authorization: `Bearer ${tok}` } : {} }, (res) => {
          if (res.statusCode !== 200) return reject(new Error(`watch got ${res.statusCode}`));
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            const now = performance.timeOrigin + performance.now();
            buf += chunk;
            let nl: number;
            while ((nl = buf.indexOf('\n')) >= 0) {
              const line = buf.slice(0, nl);
              buf = buf.slice(nl + 1);
              const sentAt = Number(/"sentAt":([\d.]+)/.exec(line)?.[1]);
              if (sentAt) latencies.push(now - sentAt);
            }
          });
          if (++established === count) resolve();
          else if (established === opening) openMore();
        });
        req.on('error', reject);
        reqs.push(req);
      }
    };
    openMore();
  });
  // wait until the upstream holds every watch
  for (;;) {
    upstream.send({ cmd: 'count' });
    const { watchers } = (await nextMessage(upstream)) as { watchers: number };
    if (watchers >= count) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const rss = pid ? rssMB(pid) : NaN;
  const events = 20;
  for (let i = 0; i < events; i++) {
    upstream.send({ cmd: 'emit' });
    await nextMessage(upstream);
    const want = (i + 1) * count;
    const t0 = Date.now();
    while (latencies.length < want && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 5));
  }
  for (const req of reqs) req.destroy();
  agent.destroy();
  for (;;) {
    upstream.send({ cmd: 'count' });
    const { watchers } = (await nextMessage(upstream)) as { watchers: number };
    if (watchers === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  latencies.sort((a, b) => a - b);
  return { rssMB: rss, p99ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}

async function bigList(url: string, tok: string | undefined, pid?: number): Promise<{ mbps: number; rssGrowthMB: number }> {
  const before = pid ? rssMB(pid) : 0;
  let peak = before;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssMB(pid))), 50) : undefined;
  const t0 = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    https.get(url, { ca: pki.ca, agent: false, headers: tok ? { authorization: `Bearer ${tok}` } : {} }, (res) => {
      let n = 0;
      res.on('data', (c: Buffer) => (n += c.length));
      res.on('end', () => resolve(n));
      res.on('error', reject);
    }).on('error', reject);
  });
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  return { mbps: bytes / 1024 / 1024 / seconds, rssGrowthMB: peak - before };
}

async function startupToReady(): Promise<number> {
  const t0 = performance.now();
  const child = spawn(process.execPath, [join(ROOT, 'dist/cli/main.js'), 'serve', '--bind-address', '127.0.0.1', '--secure-port', '0', '--metrics-bind-address', '127.0.0.1:0', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
    '--oidc-issuer-url', issuer.url, '--oidc-client-id', 'kubegate', '--oidc-ca-file', pki.caFile, '--kubeconfig', upstreamKubeconfig, '--audit-log-path', join(pki.dir, 'startup-audit.log')], { env: { ...process.env, KUBEGATE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let port = 0;
  let log = '';
  child.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
    const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(log);
    if (m) port = Number(m[1]);
  });
  try {
    for (;;) {
      if (port && (await readyz(port))) return performance.now() - t0;
      if (performance.now() - t0 > 20_000) throw new Error(`kubegate did not become ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 2));
    }
  } finally {
    child.kill();
  }
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    https.get(`https://127.0.0.1:${port}/readyz`, { ca: pki.ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

/** A bare Node.js https proxy (bench/floor-proxy.ts), with BENCH_FLOOR set: what Node itself costs. */
async function startFloor(): Promise<string> {
  const child = spawn(process.execPath, [...tsxArgs, join(ROOT, 'bench/floor-proxy.ts'), serving.certFile, serving.keyFile, pki.caFile, direct], { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill());
  const port = await new Promise<number>((resolve) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  return `https://127.0.0.1:${port}`;
}

function startNginx(): string | undefined {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) return undefined;
  const dir = join(pki.dir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = 20000 + Math.floor(Math.random() * 20000);
  writeFileSync(join(dir, 'nginx.conf'), `
worker_processes auto;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
daemon off;
events { worker_connections 19000; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream api { server 127.0.0.1:${upstreamPort}; keepalive 256; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${serving.certFile};
    ssl_certificate_key ${serving.keyFile};
    location / {
      proxy_pass https://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_ssl_trusted_certificate ${pki.caFile};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }
  }
}`);
  const child = spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: 'ignore' });
  cleanups.push(() => child.kill());
  execFileSync('sleep', ['0.5']);
  return `https://127.0.0.1:${port}`;
}

function writeResults(): void {
  mkdirSync(join(ROOT, 'docs'), { recursive: true });
  const meta = { date: new Date().toISOString(), workers: Number(process.env.BENCH_WORKERS ?? 1), cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, rounds: ROUNDS, seconds: SECONDS, watches: WATCHES, listMB: LIST_MB, nginx: Boolean(nginx) };
  writeFileSync(join(ROOT, 'docs/benchmarks.json'), JSON.stringify({ meta, rows }, null, 2) + '\n');
  const md = [
    '# Benchmarks',
    '',
    `Latest \`npm run bench\`: ${meta.date.slice(0, 10)}, ${meta.cores} cores (${meta.cpu}), Node ${meta.node}, kubegate workers ${meta.workers}, ${ROUNDS} alternating rounds of ${SECONDS} s per target, medians. nginx: ${meta.nginx ? 'yes' : 'not installed'}. Watches: ${WATCHES}. List: ${LIST_MB} MB.`,
    'Load generators, upstream, kubegate and nginx share the same cores, so absolute numbers are low; the ratios are what the targets are about.',
    '',
    '| # | metric | value | unit | target | result |',
    '|---|---|---:|---|---|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.metric} | ${fmt(r.value)} | ${r.unit} | ${r.target ?? ''} | ${r.pass === undefined ? '' : r.pass ? 'pass' : '**miss**'} |`),
    '',
    'See [the README](../README.md#benchmarks) for how to run it and what each scenario does, and [performance.md](performance.md) for where the time and memory go and why some targets are missed.',
    '',
  ].join('\n');
  writeFileSync(join(ROOT, 'docs/benchmarks.md'), md);
  console.log('\nwrote docs/benchmarks.md and docs/benchmarks.json');
}
