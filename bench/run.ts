/**
 * `npm run bench`: kubegate beside a direct connection, nginx (when installed) and bare Node.js floor
 * proxies, on loopback, in one run, alternating targets round by round, printing medians, ratios and
 * each target's pass/miss. Not part of `npm test`. See docs/benchmarks.md for what each scenario does.
 *
 * kubegate runs as `kubegate serve` with real flags: the compiled dist/ (built with `npm run build` at the
 * start, as in the container image), or the TypeScript sources through tsx when the build fails or
 * BENCH_KUBEGATE=tsx. The header of the output says which.
 *
 * Env (all optional):
 *   BENCH_ROUNDS (3), BENCH_SECONDS (5)        alternating rounds per comparison; seconds per load run
 *   BENCH_ONLY                                 scenarios to run, e.g. "1,5" (default all, 1-10)
 *   BENCH_CONNECTIONS (32)                     client connections for throughput runs
 *   BENCH_WATCHES (2000)                       scenario 4: watches, one HTTP/1.1 connection each
 *   BENCH_H2_WATCHES (10000), BENCH_H2_SESSIONS (100)   scenario 9: watches over HTTP/2 client sessions
 *   BENCH_LIST_MB (200), BENCH_LIST_ROUNDS (2)  scenario 5: size of the list; alternating rounds (also runs
 *                                              BENCH_KUBEGATE_ALT_ARGS / _ALT_DIST as "kubegate-alt")
 *   BENCH_FLOOR ("https,undici,h2")            floor proxies beside kubegate (also http-proxy; "none")
 *   BENCH_TARGETS                              scenario 1: only targets whose name starts with one of these
 *                                              (comma-separated, e.g. "kubegate,floor https")
 *   BENCH_WORKERS (1)                          worker processes of the main kubegate
 *   BENCH_KUBEGATE_ARGS                        extra `kubegate serve` flags for every kubegate started,
 *                                              e.g. "--upstream-protocol http2" (split on spaces)
 *   BENCH_KUBEGATE_ALT_ARGS                    scenarios 1, 5: a second kubegate with these flags instead of
 *                                              BENCH_KUBEGATE_ARGS, as targets "kubegate-alt", in the same run
 *   BENCH_KUBEGATE_ALT_DIST                    scenarios 1, 5: a directory holding another compiled build (its
 *                                              dist/cli/main.js, e.g. an older commit's) run as "kubegate-alt",
 *                                              so two builds compare in the same run (flags: BENCH_KUBEGATE_ALT_ARGS
 *                                              if set, else BENCH_KUBEGATE_ARGS)
 *   BENCH_KUBEGATE (dist)                      dist: build and run dist/cli/main.js; tsx: run src/ through tsx
 *   BENCH_CPU_PROF                             a directory: run kubegate with --cpu-prof there
 *   BENCH_NODE_ARGS                            extra node flags for every kubegate and floor proxy started, e.g.
 *                                              "--trace-gc" (their stdout then goes to the bench's)
 *   BENCH_WRITE                                1: also write docs/benchmarks.json and the results table in
 *                                              docs/benchmarks.md (only from a quiet machine)
 * The results always go to a JSON and a Markdown file in the OS temp directory (printed at the end).
 */
import { execFileSync, fork, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync, mkdirSync, existsSync } from 'node:fs';
import http2, { type ClientHttp2Session } from 'node:http2';
import https from 'node:https';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { createOidcAuthenticator } from '../src/authn/oidc.js';
import { silentLogger } from '../src/log/logger.js';
import { kubeconfigYaml } from '../test/support/harness.js';
import { createPki } from '../test/support/pki.js';
import { startBenchIssuer } from './issuer.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 32);
const WATCHES = Number(process.env.BENCH_WATCHES ?? 2000);
const H2_WATCHES = Number(process.env.BENCH_H2_WATCHES ?? 10000);
const H2_SESSIONS = Number(process.env.BENCH_H2_SESSIONS ?? 100);
const LIST_MB = Number(process.env.BENCH_LIST_MB ?? 200);
const LIST_ROUNDS = Number(process.env.BENCH_LIST_ROUNDS ?? 2);
const MAIN_WORKERS = Number(process.env.BENCH_WORKERS ?? 1);
const FLOORS = (process.env.BENCH_FLOOR ?? 'https,undici,h2').split(',').map((s) => s.trim()).filter((s) => s && s !== 'none');
const EXTRA_ARGS = (process.env.BENCH_KUBEGATE_ARGS ?? '').split(/\s+/).filter(Boolean);
const ALT_ARGS = process.env.BENCH_KUBEGATE_ALT_ARGS?.split(/\s+/).filter(Boolean);
const ALT_DIST = process.env.BENCH_KUBEGATE_ALT_DIST;
const ROOT = new URL('..', import.meta.url).pathname;
const SMALL = '/api/v1/namespaces/default/configmaps/small';
const WATCH = '/api/v1/namespaces/default/pods?watch=1';
const ONLY = process.env.BENCH_ONLY?.split(',').map((s) => s.trim());
const runs = (n: string) => !ONLY || ONLY.includes(n);
const T_START = performance.now();

interface Row { scenario: string; metric: string; value: number; unit: string; target?: string; pass?: boolean }
const rows: Row[] = [];
const notes: string[] = [];
const record = (r: Row) => {
  rows.push(r);
  const verdict = r.pass === undefined ? '' : r.pass ? '  PASS' : '  MISS';
  console.log(`  ${r.metric.padEnd(62)} ${fmt(r.value).padStart(12)} ${r.unit.padEnd(6)} ${r.target ? `target ${r.target}` : ''}${verdict}`);
};
/** A row with a target: `atLeast` true means value ≥ limit passes, false means value ≤ limit. */
const target = (scenario: string, metric: string, value: number, unit: string, atLeast: boolean, limit: number) =>
  record({ scenario, metric, value, unit, target: `${atLeast ? '≥' : '≤'} ${limit}`, pass: Number.isFinite(value) && (atLeast ? value >= limit : value <= limit) });
const note = (text: string) => {
  notes.push(text);
  console.log(`  (${text})`);
};
const fmt = (n: number) => (Number.isFinite(n) ? (Math.abs(n) >= 100 ? n.toFixed(0) : n.toFixed(3)) : 'n/a');
/** The median of the finite values (a lost round is NaN). */
const median = (xs: number[]) => {
  const ok = xs.filter(Number.isFinite).sort((a, b) => a - b);
  return ok[Math.floor(ok.length / 2)] ?? NaN;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const elapsed = () => `${((performance.now() - T_START) / 1000).toFixed(0)} s`;

const pki = createPki();
const serving = pki.server();
const cleanups: (() => unknown)[] = [() => pki.cleanup()];
process.on('exit', () => cleanups.reverse().forEach((c) => { try { c(); } catch { /* best effort */ } }));
process.on('SIGINT', () => process.exit(130));
process.on('SIGTERM', () => process.exit(143));

const tsxArgs = ['--import', 'tsx'];
const childEnv = { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile };
const H2LOAD = ['/usr/bin/h2load', '/usr/local/bin/h2load'].find((p) => existsSync(p));

// --- which kubegate: the compiled build (as in production) or the sources through tsx ---------------
const build = chooseBuild();

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

// --- the main kubegate ---------------------------------------------------------------------------
interface Kubegate { url: string; pid: number; readyMs: number; h2: boolean; stop(): Promise<void> }
const kubegate = await startKubegate({ workers: MAIN_WORKERS });
const nginx = runs('1') ? await startNginx() : undefined;

console.log(`kubegate benchmark — ${cpus().length} cores, node ${process.version}, rounds ${ROUNDS} × ${SECONDS} s, ${CONNECTIONS} connections`);
console.log(`  kubegate: ${build.label}, workers ${MAIN_WORKERS}${EXTRA_ARGS.length ? `, extra args: ${EXTRA_ARGS.join(' ')}` : ''}; listener ALPN h2: ${kubegate.h2 ? 'yes' : 'no'}`);
console.log(`  load: ${H2LOAD ? 'h2load (HTTP/1.1 and HTTP/2 clients)' : 'autocannon (HTTP/1.1 only: h2load not installed, `apt-get install nghttp2-client`)'}; nginx: ${nginx ? 'yes' : runs('1') ? 'not installed (`apt-get install nginx-light`)' : 'not needed'}`);
if (!kubegate.h2) note('kubegate does not negotiate h2 on its listener: rows with HTTP/2 clients through kubegate are skipped');
if (!H2LOAD) note('h2load not installed: throughput uses autocannon with HTTP/1.1 clients, HTTP/2 client rows are skipped');

await scenario('1', async () => {
  // --- 1. small GET throughput, HTTP/1.1 and HTTP/2 clients ----------------------------------------
  console.log(`\n1. small GET, 1 user, ${CONNECTIONS} connections (HTTP/2: ×10 streams each)  [${elapsed()}]`);
  interface Target { url: string; h2: boolean; token?: string; pid?: number }
  const all: Record<string, Target> = { 'direct h1': { url: direct, h2: false } };
  if (H2LOAD) all['direct h2'] = { url: direct, h2: true };
  if (nginx) {
    all['nginx h1'] = { url: nginx.h1, h2: false, pid: nginx.pid };
    if (H2LOAD) all['nginx h2'] = { url: nginx.h2, h2: true, pid: nginx.pid };
  }
  for (const mode of FLOORS) {
    const { url, pid } = await startFloor(mode);
    all[`floor ${mode} h1`] = { url, h2: false, pid };
    if (mode === 'h2' && H2LOAD) all['floor h2 h2'] = { url, h2: true, pid };
  }
  all['kubegate h1'] = { url: kubegate.url, h2: false, token, pid: kubegate.pid };
  if (H2LOAD && kubegate.h2) all['kubegate h2'] = { url: kubegate.url, h2: true, token, pid: kubegate.pid };
  const altBuild: Build | undefined = ALT_DIST ? { dist: true, label: `compiled ${ALT_DIST}`, command: [join(ALT_DIST, 'dist/cli/main.js')] } : undefined;
  const alt = ALT_ARGS || altBuild ? await startKubegate({ workers: MAIN_WORKERS, args: ALT_ARGS ?? EXTRA_ARGS, ...(altBuild && { build: altBuild }) }) : undefined;
  if (alt) {
    if (altBuild) console.log(`  (kubegate-alt: ${altBuild.label}, flags ${(ALT_ARGS ?? EXTRA_ARGS).join(' ') || 'none extra'})`);
    else console.log(`  (kubegate-alt: ${ALT_ARGS!.join(' ') || 'no extra flags'}, instead of ${EXTRA_ARGS.join(' ') || 'no extra flags'})`);
    all['kubegate-alt h1'] = { url: alt.url, h2: false, token, pid: alt.pid };
    if (H2LOAD && alt.h2) all['kubegate-alt h2'] = { url: alt.url, h2: true, token, pid: alt.pid };
  }
  const wanted = process.env.BENCH_TARGETS?.split(',').map((s) => s.trim());
  const names = Object.keys(all).filter((n) => !wanted || wanted.some((w) => n.startsWith(w)));
  const cpu: Record<string, number[]> = {};
  for (const name of names) await load(all[name]!.url + SMALL, { ...all[name]!, seconds: Math.min(1, SECONDS), label: `${name} warm-up` }); // warm up every target
  const s1 = await alternate(names, async (name) => {
    const t = all[name]!;
    const r = await load(t.url + SMALL, { ...t, seconds: SECONDS, label: name });
    if (r.cpuUs !== undefined && Number.isFinite(r.rps)) (cpu[name] ??= []).push(r.cpuUs);
    return r.rps;
  });
  for (const name of names) record({ scenario: '1', metric: `throughput ${name} clients`, value: s1[name]!, unit: 'req/s' });
  const ratio = (a: string, b: string) => s1[a]! / s1[b]!;
  const have = (...n: string[]) => n.every((x) => s1[x] !== undefined);
  if (have('kubegate h1', 'floor https h1')) target('1', 'kubegate / floor https (h1 clients)', ratio('kubegate h1', 'floor https h1'), '×', true, 1.5);
  if (have('kubegate h1', 'nginx h1')) target('1', 'kubegate / nginx (h1 clients)', ratio('kubegate h1', 'nginx h1'), '×', true, 0.5);
  if (have('kubegate h1', 'floor undici h1')) record({ scenario: '1', metric: 'kubegate / floor undici (h1 clients)', value: ratio('kubegate h1', 'floor undici h1'), unit: '×' });
  if (have('floor undici h1', 'floor https h1')) record({ scenario: '1', metric: 'floor undici / floor https (h1 clients)', value: ratio('floor undici h1', 'floor https h1'), unit: '×' });
  if (have('kubegate h1', 'direct h1')) record({ scenario: '1', metric: 'kubegate / direct (h1 clients)', value: ratio('kubegate h1', 'direct h1'), unit: '×' });
  if (have('kubegate h2', 'kubegate h1')) record({ scenario: '1', metric: 'kubegate h2 clients / h1 clients (more is better)', value: ratio('kubegate h2', 'kubegate h1'), unit: '×' });
  if (have('kubegate h2', 'floor h2 h2')) record({ scenario: '1', metric: 'kubegate / floor h2 (h2 clients)', value: ratio('kubegate h2', 'floor h2 h2'), unit: '×' });
  if (have('kubegate h2', 'nginx h2')) record({ scenario: '1', metric: 'kubegate / nginx (h2 clients)', value: ratio('kubegate h2', 'nginx h2'), unit: '×' });
  if (have('kubegate-alt h1', 'kubegate h1')) record({ scenario: '1', metric: 'kubegate-alt / kubegate (h1 clients)', value: ratio('kubegate-alt h1', 'kubegate h1'), unit: '×' });
  if (have('kubegate-alt h2', 'kubegate h2')) record({ scenario: '1', metric: 'kubegate-alt / kubegate (h2 clients)', value: ratio('kubegate-alt h2', 'kubegate h2'), unit: '×' });
  await alt?.stop();
  if (cpu['kubegate h1']) target('1', 'kubegate CPU per request, h1 clients (median)', median(cpu['kubegate h1']), 'µs', false, 80);
  // CPU per request of every other proxy (its own processes, not the upstream's): informational.
  for (const name of names) if (name !== 'kubegate h1' && cpu[name]) record({ scenario: '1', metric: `CPU per request ${name} clients (median)`, value: median(cpu[name]), unit: 'µs' });
  for (const name of names) if (cpu[name]) console.log(`    (CPU per request ${name}, round by round: ${cpu[name].map((x) => x.toFixed(0)).join(', ')} µs)`);
});

await scenario('2', async () => {
  // --- 2. 1,000 distinct users ---------------------------------------------------------------------
  console.log(`\n2. small GET, 1,000 distinct users round-robin (autocannon: a new Authorization header per request)  [${elapsed()}]`);
  const tokenFile = join(pki.dir, 'tokens.txt');
  const userTokens = await Promise.all(Array.from({ length: 1000 }, (_, i) => issuer.sign('ES256', { sub: `user-${i}`, email: `user-${i}@example.com`, groups: ['bench'] })));
  writeFileSync(tokenFile, userTokens.join('\n'));
  await autocannon(kubegate.url + SMALL, undefined, tokenFile, 2); // fill the identity cache
  const s2 = await alternate(['one user', '1,000 users'], (name) => autocannon(kubegate.url + SMALL, name === 'one user' ? token : undefined, name === 'one user' ? undefined : tokenFile));
  record({ scenario: '2', metric: 'throughput 1,000 users', value: s2['1,000 users']!, unit: 'req/s' });
  target('2', 'throughput 1,000 users / 1 user', s2['1,000 users']! / s2['one user']!, '×', true, 0.95);
});

await scenario('3', async () => {
  // --- 3. cold authentication ----------------------------------------------------------------------
  console.log(`\n3. cold authentication (every token new: one signature verification each), in-process, one core  [${elapsed()}]`);
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
});

await scenario('4', async () => {
  // --- 4. watches, one HTTP/1.1 connection each ----------------------------------------------------
  console.log(`\n4. ${WATCHES.toLocaleString()} watches, one HTTP/1.1 connection each, events fanned out (a fresh kubegate)  [${elapsed()}]`);
  const kg = await startKubegate({ workers: 1 });
  const idle = await idleRss(kg);
  const watchDirect = await h1Watches(direct, undefined, WATCHES);
  const watchKg = await h1Watches(kg.url, token, WATCHES, kg.pid);
  await kg.stop();
  record({ scenario: '4', metric: 'kubegate idle RSS before the watches', value: idle, unit: 'MB' });
  record({ scenario: '4', metric: `kubegate RSS with ${WATCHES} watches`, value: watchKg.rssMB, unit: 'MB' });
  target('4', 'memory per watch, one h1 connection each', ((watchKg.rssMB - idle) * 1024) / watchKg.opened, 'KB', false, 40);
  record({ scenario: '4', metric: 'event relay latency p99 direct', value: watchDirect.p99ms, unit: 'ms' });
  record({ scenario: '4', metric: 'event relay latency p99 through kubegate', value: watchKg.p99ms, unit: 'ms' });
  target('4', `event relay latency added p99 at ${WATCHES} watches`, watchKg.p99ms - watchDirect.p99ms, 'ms', false, 5);
});

await scenario('5', async () => {
  // --- 5. large list -------------------------------------------------------------------------------
  console.log(`\n5. ${LIST_MB} MB list  [${elapsed()}]`);
  const big = `/api/v1/big?bytes=${LIST_MB * 1024 * 1024}`;
  const names = ['direct h1', 'kubegate h1', ...(kubegate.h2 ? ['direct h2', 'kubegate h2'] : [])];
  // The bare Node.js proxies beside kubegate: what relaying the list through Node itself costs.
  const floors: Record<string, { url: string; pid: number }> = {};
  for (const mode of FLOORS.filter((m) => m === 'https' || m === 'h2')) {
    floors[mode] = await startFloor(mode);
    names.push(`floor ${mode} h1`);
    if (mode === 'h2') names.push('floor h2 h2');
  }
  // BENCH_KUBEGATE_ALT_ARGS / BENCH_KUBEGATE_ALT_DIST: a second kubegate in the same run (e.g. the build before a change).
  const altBuild: Build | undefined = ALT_DIST ? { dist: true, label: `compiled ${ALT_DIST}`, command: [join(ALT_DIST, 'dist/cli/main.js')] } : undefined;
  const alt = ALT_ARGS || altBuild ? await startKubegate({ workers: MAIN_WORKERS, args: ALT_ARGS ?? EXTRA_ARGS, ...(altBuild && { build: altBuild }) }) : undefined;
  if (alt) {
    cleanups.push(() => void alt.stop());
    names.push('kubegate-alt h1', ...(alt.h2 ? ['kubegate-alt h2'] : []));
    console.log(`  (kubegate-alt: ${altBuild?.label ?? 'this build'}, flags ${(ALT_ARGS ?? EXTRA_ARGS).join(' ') || 'none extra'})`);
  }
  const s5 = await alternate(names, (name) => {
    if (name.startsWith('kubegate-alt')) return bigList(alt!.url + big, name.endsWith('h2'), token, alt!.pid);
    const kg = name.startsWith('kubegate');
    const floor = name.startsWith('floor') ? floors[name.split(' ')[1]!] : undefined;
    const url = kg ? kubegate.url : floor ? floor.url : direct;
    return bigList(url + big, name.endsWith('h2'), kg ? token : undefined, kg ? kubegate.pid : floor?.pid);
  }, LIST_ROUNDS);
  for (const p of ['h1', 'h2']) {
    if (!s5[`kubegate ${p}`]) continue;
    record({ scenario: '5', metric: `throughput direct, ${p} client`, value: s5[`direct ${p}`]!.mbps, unit: 'MB/s' });
    record({ scenario: '5', metric: `throughput kubegate, ${p} client`, value: s5[`kubegate ${p}`]!.mbps, unit: 'MB/s' });
    target('5', `throughput kubegate / direct, ${p} client`, s5[`kubegate ${p}`]!.mbps / s5[`direct ${p}`]!.mbps, '×', true, 0.8);
    target('5', `kubegate RSS growth during the list, ${p} client`, s5[`kubegate ${p}`]!.rssGrowthMB, 'MB', false, 50);
  }
  for (const name of names) {
    const r = s5[name]!;
    record({ scenario: '5', metric: `CPU ms per MB ${name}: proxy ${fmt(r.proxyCpuMsPerMB)}, upstream ${fmt(r.upstreamCpuMsPerMB)}, client`, value: r.clientCpuMsPerMB, unit: 'ms' });
  }
  for (const p of alt ? ['h1', 'h2'] : []) {
    if (!s5[`kubegate-alt ${p}`]) continue;
    record({ scenario: '5', metric: `throughput kubegate-alt, ${p} client`, value: s5[`kubegate-alt ${p}`]!.mbps, unit: 'MB/s' });
    record({ scenario: '5', metric: `throughput kubegate-alt / direct, ${p} client`, value: s5[`kubegate-alt ${p}`]!.mbps / s5[`direct ${p}`]!.mbps, unit: '×' });
    record({ scenario: '5', metric: `kubegate-alt RSS growth during the list, ${p} client`, value: s5[`kubegate-alt ${p}`]!.rssGrowthMB, unit: 'MB' });
  }
  for (const name of names.filter((n) => n.startsWith('floor'))) {
    const p = name.endsWith('h2') ? 'h2' : 'h1';
    record({ scenario: '5', metric: `throughput ${name} client`, value: s5[name]!.mbps, unit: 'MB/s' });
    record({ scenario: '5', metric: `${name} client / direct`, value: s5[name]!.mbps / s5[`direct ${p}`]!.mbps, unit: '×' });
    if (s5[`kubegate ${p}`]) record({ scenario: '5', metric: `kubegate / ${name} client`, value: s5[`kubegate ${p}`]!.mbps / s5[name]!.mbps, unit: '×' });
  }
  if (!kubegate.h2) note('scenario 5: kubegate does not negotiate h2, the HTTP/2-client list is skipped');
});

await scenario('6', async () => {
  // --- 6. audit on vs off --------------------------------------------------------------------------
  console.log(`\n6. audit on vs off (small GET, ${CONNECTIONS} h1 connections; bench/kubegate-child.ts, ${build.dist ? 'dist/' : 'src/'})  [${elapsed()}]`);
  const withAudit = await startAuditChild(false);
  const noAudit = await startAuditChild(true);
  const s6 = await alternate(['audit on', 'audit off'], async (name) => (await load((name === 'audit on' ? withAudit.url : noAudit.url) + SMALL, { h2: false, token, seconds: SECONDS })).rps);
  withAudit.child.kill();
  noAudit.child.kill();
  record({ scenario: '6', metric: 'throughput audit on', value: s6['audit on']!, unit: 'req/s' });
  record({ scenario: '6', metric: 'throughput audit off', value: s6['audit off']!, unit: 'req/s' });
  const cost = 1 - s6['audit on']! / s6['audit off']!;
  target('6', 'throughput cost of audit', cost * 100, '%', false, 10);
});

await scenario('7', async () => {
  // --- 7. start-up to ready and idle memory --------------------------------------------------------
  console.log(`\n7. start-up to ready and idle RSS (issuer reachable; median of ${ROUNDS})  [${elapsed()}]`);
  const variants: Build[] = build.dist ? [build, tsxBuild()] : [build];
  for (const v of variants) {
    const startups: number[] = [];
    const atReady: number[] = [];
    const afterOne: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const kg = await startKubegate({ workers: 1, build: v, quiet: true });
      startups.push(kg.readyMs);
      atReady.push(rssMB(kg.pid));
      afterOne.push(await idleRss(kg));
      await kg.stop();
    }
    const main = v === build;
    const label = v.dist ? 'compiled dist/' : 'tsx, src/';
    if (main) target('7', `start-up to ready (${label})`, median(startups), 'ms', false, 300);
    else record({ scenario: '7', metric: `start-up to ready (${label})`, value: median(startups), unit: 'ms' });
    record({ scenario: '7', metric: `idle RSS at ready (${label})`, value: median(atReady), unit: 'MB' });
    if (main) target('7', `idle RSS after one request (${label})`, median(afterOne), 'MB', false, 100);
    else record({ scenario: '7', metric: `idle RSS after one request (${label})`, value: median(afterOne), unit: 'MB' });
  }
});

await scenario('8', async () => {
  // --- 8. added latency at a fixed rate ------------------------------------------------------------
  console.log(`\n8. added latency at a fixed 1,000 req/s (open loop, 16 connections)  [${elapsed()}]`);
  const floors: Record<string, string> = {};
  for (const mode of FLOORS) floors[`floor ${mode}`] = (await startFloor(mode)).url;
  const urlOf = (name: string) => (name.startsWith('kubegate') ? kubegate.url : name.startsWith('direct') ? direct : floors[name.slice(0, name.lastIndexOf(' '))]!);
  const names = ['direct h1', 'kubegate h1', ...Object.keys(floors).map((f) => `${f} h1`), ...(kubegate.h2 ? ['direct h2', 'kubegate h2'] : []), ...(floors['floor h2'] ? ['floor h2 h2'] : [])];
  const rate = (name: string) => rateLatency(urlOf(name) + SMALL, name.endsWith('h2'), name.startsWith('kubegate') ? token : undefined, name);
  // A warm-up round, not counted: a kubegate that has served nothing yet (BENCH_ONLY=8) is still compiling
  // its hot path (its first round measured p50 15 ms, p99 300 ms, against 1.1 / 18 ms for the next).
  for (const name of names) await rate(name);
  const lat = await alternate(names, rate, 2);
  // The floor proxies (Node itself, no kubegate logic) in the same run: what this machine allows a Node proxy.
  for (const name of names) if (name.startsWith('floor')) {
    const d = lat[name.endsWith('h2') ? 'direct h2' : 'direct h1']!;
    record({ scenario: '8', metric: `added latency p50 at 1,000 req/s, ${name} clients`, value: (lat[name]!.p50us - d.p50us) / 1000, unit: 'ms' });
    record({ scenario: '8', metric: `added latency p99 at 1,000 req/s, ${name} clients`, value: (lat[name]!.p99us - d.p99us) / 1000, unit: 'ms' });
  }
  target('8', 'added latency p50 at 1,000 req/s, h1 clients', (lat['kubegate h1']!.p50us - lat['direct h1']!.p50us) / 1000, 'ms', false, 0.25);
  target('8', 'added latency p99 at 1,000 req/s, h1 clients', (lat['kubegate h1']!.p99us - lat['direct h1']!.p99us) / 1000, 'ms', false, 1);
  if (lat['kubegate h2']) {
    record({ scenario: '8', metric: 'added latency p50 at 1,000 req/s, h2 clients', value: (lat['kubegate h2'].p50us - lat['direct h2']!.p50us) / 1000, unit: 'ms' });
    record({ scenario: '8', metric: 'added latency p99 at 1,000 req/s, h2 clients', value: (lat['kubegate h2'].p99us - lat['direct h2']!.p99us) / 1000, unit: 'ms' });
  } else note('scenario 8: kubegate does not negotiate h2, the HTTP/2-client latency rows are skipped');
});

await scenario('9', async () => {
  // --- 9. watches multiplexed over HTTP/2 client sessions ------------------------------------------
  console.log(`\n9. ${H2_WATCHES.toLocaleString()} watches over ${H2_SESSIONS} HTTP/2 client sessions (a fresh kubegate)  [${elapsed()}]`);
  if (!kubegate.h2) note('scenario 9 skipped: kubegate does not negotiate h2 on its listener');
  else {
    const kg = await startKubegate({ workers: 1 });
    const idle = await idleRss(kg);
    const w = await h2Watches(kg.url, token, H2_WATCHES, H2_SESSIONS, kg.pid);
    await kg.stop();
    record({ scenario: '9', metric: 'kubegate idle RSS before the watches', value: idle, unit: 'MB' });
    record({ scenario: '9', metric: `kubegate RSS with ${w.opened} watches over ${H2_SESSIONS} sessions`, value: w.rssMB, unit: 'MB' });
    target('9', 'memory per watch, multiplexed over HTTP/2', ((w.rssMB - idle) * 1024) / w.opened, 'KB', false, 10);
    record({ scenario: '9', metric: 'event relay latency p99 through kubegate, h2 clients', value: w.p99ms, unit: 'ms' });
  }
});

await scenario('10', async () => {
  // --- 10. --workers 2 beside --workers 1 ----------------------------------------------------------
  console.log(`\n10. kubegate --workers 2 beside --workers 1 (small GET, ${CONNECTIONS} h1 connections)  [${elapsed()}]`);
  const one = MAIN_WORKERS === 1 ? kubegate : await startKubegate({ workers: 1 });
  const two = await startKubegate({ workers: 2 });
  const kgs: Record<string, Kubegate> = { 'workers 1': one, 'workers 2': two };
  const cpu: Record<string, number[]> = {};
  for (const k of Object.values(kgs)) await load(k.url + SMALL, { h2: false, token, pid: k.pid, seconds: Math.min(1, SECONDS) });
  const s10 = await alternate(Object.keys(kgs), async (name) => {
    const r = await load(kgs[name]!.url + SMALL, { h2: false, token, pid: kgs[name]!.pid, seconds: SECONDS });
    if (r.cpuUs !== undefined && Number.isFinite(r.rps)) (cpu[name] ??= []).push(r.cpuUs);
    return r.rps;
  });
  await two.stop();
  if (one !== kubegate) await one.stop();
  for (const name of Object.keys(kgs)) record({ scenario: '10', metric: `throughput kubegate ${name}`, value: s10[name]!, unit: 'req/s' });
  record({ scenario: '10', metric: 'throughput workers 2 / workers 1', value: s10['workers 2']! / s10['workers 1']!, unit: '×' });
  if (cpu['workers 2']) record({ scenario: '10', metric: 'kubegate CPU per request, workers 2 (all processes)', value: median(cpu['workers 2']), unit: 'µs' });
});

writeResults();
console.log(`\ndone in ${elapsed()}`);
process.exit(0);

// ================================================================================================

/** Run one scenario if selected; a failure is reported as a note and the run goes on. */
async function scenario(n: string, body: () => Promise<void>): Promise<void> {
  if (!runs(n)) return;
  try {
    await body();
  } catch (err) {
    note(`scenario ${n} failed: ${(err as Error).message.split('\n')[0]}`);
    console.error(err);
  }
}

function nextMessage(child: ChildProcess): Promise<unknown> {
  return new Promise((resolve) => child.once('message', resolve));
}

/** Resolve with `p`, or reject after `ms` naming what did not finish. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done after ${ms / 1000} s`)), ms)))]).finally(() => clearTimeout(timer));
}

/** Run `fn` for each name, `rounds` times, alternating; return each name's median. */
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

function runChild(script: string, args: object, timeoutMs: number): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...tsxArgs, join(ROOT, script), JSON.stringify(args)], { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(JSON.parse(out) as Record<string, number>);
      else reject(new Error(`${script} exited ${code}`));
    });
  });
}

/**
 * Closed-loop small-GET load against one target: h2load (HTTP/1.1 with --h1, HTTP/2 with 10 streams per
 * connection), or autocannon for HTTP/1.1 when h2load is missing. With `pid`, also the CPU that process
 * tree used per completed request.
 */
async function load(url: string, o: { h2: boolean; token?: string; pid?: number; seconds: number; label?: string }): Promise<{ rps: number; cpuUs?: number }> {
  const what = o.label ? `${o.label} (${url})` : url;
  const cpu0 = o.pid ? cpuSeconds(o.pid) : 0;
  let rps: number;
  let done: number;
  if (H2LOAD) {
    const seconds = Math.max(1, Math.round(o.seconds));
    const args = [...(o.h2 ? ['-m', '10'] : ['--h1']), '-c', String(CONNECTIONS), '-D', String(seconds), ...(o.token ? ['-H', `authorization: Bearer ${o.token}`] : []), url];
    // h2load sometimes never returns after "Stopped all clients": seen on the first HTTP/2 run against the
    // freshly started h2 floor proxy, which then leaves the clients' last frames unread (472 bytes in its
    // socket's Recv-Q). Bounded: such a run counts as lost (the warm-up run usually takes it).
    const r = spawnSync(H2LOAD, args, { encoding: 'utf8', timeout: (seconds + 10) * 1000, maxBuffer: 16 * 1024 * 1024 });
    const out = r.stdout ?? '';
    const finished = /finished in ([\d.]+)s, ([\d.]+) req\/s/.exec(out);
    const req = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    const codes = /status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/.exec(out);
    const proto = /Application protocol: (\S+)/.exec(out)?.[1];
    if (!finished || !req) {
      console.log(`    (warning: h2load against ${what} gave no result${r.error ? ` (${r.error.message})` : ''}: this round is lost)`);
      return { rps: NaN };
    }
    done = Number(req[3]); // succeeded (2xx/3xx) within the measured duration
    const non2xx = codes ? Number(codes[2]) + Number(codes[3]) + Number(codes[4]) : 0;
    if (non2xx || Number(req[4]) || Number(req[5]) || Number(req[6])) console.log(`    (warning: ${non2xx} non-2xx, ${req[4]} failed, ${req[5]} errored, ${req[6]} timed out against ${what})`);
    if (proto !== (o.h2 ? 'h2' : 'http/1.1')) console.log(`    (warning: ${what} negotiated ${proto ?? 'nothing'}, wanted ${o.h2 ? 'h2' : 'http/1.1'})`);
    rps = done / Number(finished[1]);
  } else {
    if (o.h2) throw new Error('HTTP/2 load needs h2load');
    rps = await autocannon(url, o.token, undefined, o.seconds);
    done = rps * o.seconds;
  }
  return { rps, ...(o.pid ? { cpuUs: ((cpuSeconds(o.pid) - cpu0) * 1e6) / done } : {}) };
}

/** autocannon (HTTP/1.1): for token rotation per request (scenario 2), and when h2load is missing. */
async function autocannon(url: string, tok?: string, file?: string, seconds = SECONDS): Promise<number> {
  const r = await runChild('bench/throughput-client.ts', { url, connections: CONNECTIONS, seconds, token: tok, tokenFile: file }, (seconds + 60) * 1000);
  if (r.non2xx || r.errors) console.log(`    (warning: ${r.non2xx} non-2xx, ${r.errors} errors against ${url})`);
  return r.rps!;
}

/** user+system CPU seconds a process tree has used so far. */
function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    } catch {
      /* gone */
    }
  }
  return ticks / 100; // USER_HZ = 100
}

/**
 * One open-loop run at 1,000 req/s. Prints the run's p50/p99/max and its slow requests grouped by when they
 * were sent: a stall of the process (GC, the scheduler) shows as a cluster of many slow requests within
 * 100 ms, a Nagle/delayed-ACK wait as single requests of ~40 ms.
 */
async function rateLatency(url: string, h2: boolean, tok?: string, label = url): Promise<{ p50us: number; p99us: number }> {
  const r = await runChild('bench/rate-client.ts', { url, rate: 1000, seconds: SECONDS, connections: 16, token: tok, h2 }, (SECONDS + 60) * 1000);
  if (r.ok! < r.sent! * 0.99) console.log(`    (warning: only ${r.ok} of ${r.sent} requests succeeded against ${url})`);
  console.log(`    (${label}: p50 ${(r.p50us! / 1000).toFixed(3)} ms, p99 ${(r.p99us! / 1000).toFixed(3)} ms, max ${(r.maxus! / 1000).toFixed(3)} ms, ${r.ok} of ${r.sent}; slow: ${r.slow})`);
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
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      /* gone */
    }
  }
  return kb / 1024;
}

/** RSS once kubegate has served a few authenticated requests (so the hot path is loaded) and is idle. */
async function idleRss(kg: Kubegate): Promise<number> {
  for (let i = 0; i < 5; i++) {
    await new Promise<void>((resolve, reject) => {
      https.get(kg.url + SMALL, { ca: pki.ca, agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
        res.resume();
        res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`warm-up request got ${res.statusCode}`))));
      }).on('error', reject);
    });
  }
  await sleep(200); // let the sockets close
  return rssMB(kg.pid);
}

async function upstreamWatchers(): Promise<number> {
  upstream.send({ cmd: 'count' });
  return ((await nextMessage(upstream)) as { watchers: number }).watchers;
}

/** Wait (bounded) until the upstream holds `n` watches, or at most `n` when `atMost`. */
async function upstreamHolds(n: number, atMost: boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    const w = await upstreamWatchers();
    if (atMost ? w <= n : w >= n) return true;
    await sleep(50);
  }
  return false;
}

/** A parser for watch event lines that records each event's relay latency (now − the upstream's sentAt). */
function eventParser(latencies: number[]): (chunk: string) => void {
  let buf = '';
  return (chunk) => {
    const now = performance.timeOrigin + performance.now();
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const sentAt = Number(/"sentAt":([\d.]+)/.exec(line)?.[1]);
      if (sentAt) latencies.push(now - sentAt);
    }
  };
}

/** With every watch open: RSS, then `events` events fanned out, each waited for (bounded); p99 relay latency. */
async function fanOut(count: number, latencies: number[], pid: number | undefined, events: number): Promise<{ rssMB: number; p99ms: number }> {
  if (!(await upstreamHolds(count, false, 60_000))) note(`the upstream did not see all ${count} watches within 60 s`);
  const rss = pid ? rssMB(pid) : NaN;
  for (let i = 0; i < events; i++) {
    upstream.send({ cmd: 'emit' });
    await nextMessage(upstream);
    const want = (i + 1) * count;
    const until = performance.now() + 15_000;
    while (latencies.length < want && performance.now() < until) await sleep(5);
    if (latencies.length < want) {
      note(`event ${i + 1}: only ${latencies.length - i * count} of ${count} watches received it within 15 s; stopping the fan-out`);
      break;
    }
  }
  latencies.sort((a, b) => a - b);
  return { rssMB: rss, p99ms: latencies[Math.floor(latencies.length * 0.99)] ?? NaN };
}

/** `count` watches, one HTTP/1.1 connection each, opened in waves of 500. */
async function h1Watches(base: string, tok: string | undefined, count: number, pid?: number): Promise<{ rssMB: number; p99ms: number; opened: number }> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: Infinity, ca: pki.ca });
  const latencies: number[] = [];
  const reqs: import('node:http').ClientRequest[] = [];
  let opened = 0;
  try {
    for (let wave = 0; wave < count; wave += 500) {
      const n = Math.min(500, count - wave);
      await within(
        Promise.all(
          Array.from({ length: n }, () =>
            new Promise<void>((resolve, reject) => {
              const req = https.get(`${base}${WATCH}`, { agent, headers: tok ? { authorization: `Bearer ${tok}` } : {} }, (res) => {
                if (res.statusCode !== 200) return reject(new Error(`watch got ${res.statusCode}`));
                res.setEncoding('utf8');
                res.on('data', eventParser(latencies));
                opened++;
                resolve();
              });
              req.on('error', reject);
              reqs.push(req);
            }),
          ),
        ),
        60_000,
        `opening watches ${wave + 1}-${wave + n} against ${base}`,
      );
    }
    return { ...(await fanOut(count, latencies, pid, 10)), opened };
  } finally {
    for (const req of reqs) req.destroy();
    agent.destroy();
    if (!(await upstreamHolds(0, true, 60_000))) note('the upstream still held watches 60 s after the clients left');
  }
}

/** `count` watches over `sessions` HTTP/2 client sessions (streams spread evenly), 5 sessions at a time. */
async function h2Watches(base: string, tok: string, count: number, sessions: number, pid?: number): Promise<{ rssMB: number; p99ms: number; opened: number }> {
  const perSession = Math.ceil(count / sessions);
  const latencies: number[] = [];
  const open: ClientHttp2Session[] = [];
  let opened = 0;
  const openSession = async (n: number) => {
    const session = http2.connect(base, { ca: pki.ca, settings: { enablePush: false } });
    session.on('error', () => {});
    open.push(session);
    await within(new Promise<void>((resolve, reject) => session.once('remoteSettings', () => resolve()).once('error', reject)), 30_000, 'HTTP/2 session to kubegate');
    const max = session.remoteSettings.maxConcurrentStreams ?? Infinity;
    if (max < n) note(`kubegate allows ${max} streams per HTTP/2 connection, fewer than the ${n} watches asked of each session`);
    await Promise.all(
      Array.from({ length: n }, () =>
        new Promise<void>((resolve, reject) => {
          const stream = session.request({ ':path': WATCH, authorization: `Bearer ${tok}` });
          stream.on('response', (h) => {
            if (h[':status'] !== 200) return reject(new Error(`watch over h2 got ${h[':status']}`));
            opened++;
            resolve();
          });
          stream.setEncoding('utf8');
          stream.on('data', eventParser(latencies));
          stream.on('error', reject);
          stream.end();
        }),
      ),
    );
  };
  try {
    for (let s = 0; s < sessions && s * perSession < count; s += 5) {
      const batch = Array.from({ length: Math.min(5, sessions - s) }, (_, i) => Math.max(0, Math.min(perSession, count - (s + i) * perSession))).filter((n) => n > 0);
      await within(Promise.all(batch.map(openSession)), 120_000, `opening HTTP/2 sessions ${s + 1}-${s + batch.length}`);
    }
    return { ...(await fanOut(count, latencies, pid, 5)), opened };
  } finally {
    for (const s of open) s.destroy();
    if (!(await upstreamHolds(0, true, 120_000))) note('the upstream still held watches 120 s after the HTTP/2 clients left');
  }
}

/**
 * One list read whole; throughput, the proxy's RSS growth, and CPU milliseconds per MB of the proxy, the
 * upstream and the client (this process): on a loaded machine the ratio of throughputs follows the CPU each
 * path costs, so these say where the time goes whatever the load.
 */
async function bigList(url: string, h2: boolean, tok: string | undefined, pid?: number): Promise<{ mbps: number; rssGrowthMB: number; proxyCpuMsPerMB: number; upstreamCpuMsPerMB: number; clientCpuMsPerMB: number }> {
  const cpu0 = { proxy: pid ? cpuSeconds(pid) : 0, upstream: cpuSeconds(upstream.pid!), client: process.cpuUsage() };
  const before = pid ? rssMB(pid) : 0;
  let peak = before;
  const sampler = pid ? setInterval(() => (peak = Math.max(peak, rssMB(pid))), 50) : undefined;
  const t0 = performance.now();
  const auth = tok ? { authorization: `Bearer ${tok}` } : {};
  const bytes = await within(
    new Promise<number>((resolve, reject) => {
      let n = 0;
      if (h2) {
        // Window sizes as client-go's (Go's transport: 4 MiB per stream, 1 GiB per connection).
        const u = new URL(url);
        const session = http2.connect(u.origin, { ca: pki.ca, settings: { initialWindowSize: 4 * 1024 * 1024 } });
        session.on('connect', () => session.setLocalWindowSize(1024 * 1024 * 1024));
        session.on('error', reject);
        const stream = session.request({ ':path': u.pathname + u.search, ...auth });
        stream.on('data', (c: Buffer) => (n += c.length));
        stream.on('end', () => {
          session.close();
          resolve(n);
        });
        stream.on('error', reject);
        stream.end();
      } else {
        https.get(url, { ca: pki.ca, agent: false, headers: auth }, (res) => {
          res.on('data', (c: Buffer) => (n += c.length));
          res.on('end', () => resolve(n));
          res.on('error', reject);
        }).on('error', reject);
      }
    }),
    300_000,
    `the list from ${url}`,
  );
  const seconds = (performance.now() - t0) / 1000;
  clearInterval(sampler);
  const mb = bytes / 1024 / 1024;
  const client = process.cpuUsage(cpu0.client);
  return {
    mbps: mb / seconds,
    rssGrowthMB: peak - before,
    proxyCpuMsPerMB: pid ? ((cpuSeconds(pid) - cpu0.proxy) * 1000) / mb : 0,
    upstreamCpuMsPerMB: ((cpuSeconds(upstream.pid!) - cpu0.upstream) * 1000) / mb,
    clientCpuMsPerMB: (client.user + client.system) / 1000 / mb,
  };
}

interface Build { dist: boolean; label: string; command: string[] }

function tsxBuild(): Build {
  return { dist: false, label: 'TypeScript sources through tsx (src/cli/main.ts)', command: [...tsxArgs, join(ROOT, 'src/cli/main.ts')] };
}

/** `npm run build` into dist/ (gitignored) and run that, as the image does; tsx when asked or when the build fails. */
function chooseBuild(): Build {
  if (process.env.BENCH_KUBEGATE === 'tsx') return tsxBuild();
  try {
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
    return { dist: true, label: 'compiled dist/ (npm run build; as in the container image)', command: [join(ROOT, 'dist/cli/main.js')] };
  } catch (err) {
    console.log(`(npm run build failed: ${(err as Error).message.split('\n')[0]}; running the sources through tsx instead)`);
    return tsxBuild();
  }
}

/** Does the server at `url` select h2 by ALPN? */
function negotiatesH2(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = tls.connect({ host: u.hostname, port: Number(u.port), ca: pki.ca, ALPNProtocols: ['h2', 'http/1.1'] }, () => {
      resolve(socket.alpnProtocol === 'h2');
      socket.end();
    });
    socket.on('error', () => resolve(false));
  });
}

/** `kubegate serve` with real flags (+ BENCH_KUBEGATE_ARGS), ready when /readyz answers 200 on every worker. */
async function startKubegate(o: { workers: number; build?: Build; quiet?: boolean; args?: string[] }): Promise<Kubegate> {
  const b = o.build ?? build;
  const prof = [...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []), ...(process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [])];
  const flags = [
    'serve', '--bind-address', '127.0.0.1', '--secure-port', '0', '--metrics-bind-address', '127.0.0.1:0', '--workers', String(o.workers),
    '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
    '--oidc-issuer-url', issuer.url, '--oidc-client-id', 'kubegate', '--oidc-ca-file', pki.caFile, '--oidc-username-claim', 'email', '--oidc-groups-claim', 'groups', '--oidc-signing-algs', 'RS256,ES256',
    '--kubeconfig', upstreamKubeconfig,
    '--audit-log-path', join(pki.dir, `audit-${Math.random().toString(36).slice(2)}.log`), '--audit-log-maxsize', '100', '--audit-log-maxbackup', '1',
    '--log-level', 'info', ...(o.args ?? EXTRA_ARGS),
  ];
  const t0 = performance.now();
  const child = spawn(process.execPath, [...prof, ...b.command, ...flags], { env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', process.env.BENCH_NODE_ARGS ? 'inherit' : 'ignore', 'pipe'] });
  const kill = () => child.kill();
  cleanups.push(kill);
  let log = '';
  let partial = '';
  let servingWorkers = 0;
  let port = 0;
  child.stderr!.on('data', (c: Buffer) => {
    log = (log + c.toString()).slice(-16_000);
    const lines = (partial + c.toString()).split('\n');
    partial = lines.pop()!;
    for (const line of lines) {
      if (!line.includes('"kubegate serving"')) continue;
      const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(line);
      if (m) {
        port = Number(m[1]);
        servingWorkers++;
      }
    }
  });
  let exited = false;
  child.on('exit', () => (exited = true));
  let readyMs = NaN;
  let consecutive = 0;
  while (consecutive < 2 * o.workers) {
    if (exited) throw new Error(`kubegate exited before it was ready:\n${log}`);
    if (performance.now() - t0 > 30_000) throw new Error(`kubegate was not ready after 30 s:\n${log}`);
    if (port && servingWorkers >= o.workers && (await readyz(port))) {
      if (Number.isNaN(readyMs)) readyMs = performance.now() - t0;
      consecutive++;
    } else {
      consecutive = 0;
      await sleep(2);
    }
  }
  const url = `https://127.0.0.1:${port}`;
  const h2 = await negotiatesH2(url);
  if (!o.quiet) console.log(`  (kubegate on :${port}, ${o.workers} worker${o.workers > 1 ? 's' : ''}, ready in ${readyMs.toFixed(0)} ms, h2 ${h2 ? 'offered' : 'not offered'}${process.env.BENCH_NODE_ARGS ? `, pid ${child.pid}` : ''})`);
  return {
    url, pid: child.pid!, readyMs, h2,
    stop: async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const gone = await within(new Promise<void>((resolve) => child.once('exit', () => resolve())), 15_000, 'kubegate shutdown').then(() => true, () => false);
        if (!gone) child.kill('SIGKILL');
      }
      cleanups.splice(cleanups.indexOf(kill), 1);
    },
  };
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    https.get(`https://127.0.0.1:${port}/readyz`, { ca: pki.ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    }).on('error', () => resolve(false));
  });
}

/** bench/kubegate-child.ts: kubegate in-process with audit on, or with a sink that drops every record. */
async function startAuditChild(auditOff: boolean): Promise<{ url: string; child: ChildProcess }> {
  const config = {
    server: { bindAddress: '127.0.0.1', securePort: 0, metricsBindAddress: '127.0.0.1:0', tlsCertFile: serving.certFile, tlsPrivateKeyFile: serving.keyFile },
    oidc: { issuerUrl: issuer.url, clientId: 'kubegate', caFile: pki.caFile, usernameClaim: 'email', groupsClaim: 'groups', signingAlgs: ['RS256', 'ES256'] },
    upstream: { kubeconfig: upstreamKubeconfig },
    audit: { logPath: join(pki.dir, 'audit-child.log'), logMaxSize: 100, logMaxBackup: 1 },
  };
  const child = spawn(process.execPath, [...tsxArgs, join(ROOT, 'bench/kubegate-child.ts')], {
    env: { ...childEnv, BENCH_CONFIG: JSON.stringify(config), BENCH_AUDIT: auditOff ? 'off' : 'on', BENCH_WORKERS: '1', BENCH_KUBEGATE_DIST: build.dist ? '1' : '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  cleanups.push(() => child.kill());
  const port = await within(readyLine(child, 'bench/kubegate-child.ts'), 30_000, 'bench/kubegate-child.ts start-up');
  return { url: `https://127.0.0.1:${port}`, child };
}

function readyLine(child: ChildProcess, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.on('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

/** A bare Node.js proxy (bench/floor-proxy.ts) in the given mode: what Node itself costs. */
async function startFloor(mode: string): Promise<{ url: string; pid: number }> {
  const nodeArgs = process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
  const child = spawn(process.execPath, [...nodeArgs, ...tsxArgs, join(ROOT, 'bench/floor-proxy.ts'), serving.certFile, serving.keyFile, pki.caFile, direct, mode], { env: childEnv, stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => child.kill());
  if (nodeArgs.length) {
    console.log(`  (floor proxy ${mode}: pid ${child.pid}, node ${nodeArgs.join(' ')})`);
    child.stdout!.pipe(process.stdout);
  }
  const port = await within(readyLine(child, `floor proxy ${mode}`), 30_000, `floor proxy ${mode} start-up`);
  return { url: `https://127.0.0.1:${port}`, pid: child.pid! };
}

/** nginx as a plain reverse proxy (HTTP/1.1 upstream with keep-alive), one HTTP/1.1 and one h2 listener. */
async function startNginx(): Promise<{ h1: string; h2: string; pid: number } | undefined> {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) return undefined;
  const dir = join(pki.dir, 'nginx');
  mkdirSync(dir, { recursive: true });
  const port = 20000 + Math.floor(Math.random() * 20000);
  const location = `
    location / {
      proxy_pass https://api;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Authorization "Bearer bench-service-account-token";
      proxy_set_header Impersonate-User "bench@example.com";
      proxy_ssl_trusted_certificate ${pki.caFile};
      proxy_ssl_verify on;
      proxy_ssl_name localhost;
      proxy_ssl_session_reuse on;
      proxy_buffering off;
      proxy_read_timeout 1h;
    }`;
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
    ssl_certificate_key ${serving.keyFile};${location}
  }
  server {
    listen 127.0.0.1:${port + 1} ssl http2;
    ssl_certificate ${serving.certFile};
    ssl_certificate_key ${serving.keyFile};
    http2_max_concurrent_streams 250;${location}
  }
}`);
  const child = spawn(bin, ['-c', join(dir, 'nginx.conf'), '-p', dir], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  cleanups.push(() => child.kill());
  const until = performance.now() + 10_000;
  while (!(await negotiatesH2(`https://127.0.0.1:${port + 1}`))) {
    if (performance.now() > until || child.exitCode !== null) {
      note(`nginx did not start: ${err.trim().slice(0, 300)}`);
      child.kill();
      return undefined;
    }
    await sleep(50);
  }
  return { h1: `https://127.0.0.1:${port}`, h2: `https://127.0.0.1:${port + 1}`, pid: child.pid! };
}

function writeResults(): void {
  const meta = {
    date: new Date().toISOString(), kubegate: build.dist ? 'dist' : 'tsx', workers: MAIN_WORKERS, extraArgs: EXTRA_ARGS.join(' '), altArgs: ALT_ARGS?.join(' '), kubegateH2: kubegate.h2,
    cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, rounds: ROUNDS, seconds: SECONDS, connections: CONNECTIONS,
    watches: WATCHES, h2Watches: H2_WATCHES, h2Sessions: H2_SESSIONS, listMB: LIST_MB, floors: FLOORS, nginx: Boolean(nginx), loadTool: H2LOAD ? 'h2load' : 'autocannon',
    only: ONLY ?? 'all', durationSeconds: Math.round((performance.now() - T_START) / 1000),
  };
  const json = JSON.stringify({ meta, rows, notes }, null, 2) + '\n';
  const table = [
    `Run of ${meta.date.slice(0, 10)}: ${meta.cores} cores (${meta.cpu}), Node ${meta.node}; kubegate ${build.dist ? 'compiled dist/' : 'through tsx'}, ${meta.workers} worker${meta.workers > 1 ? 's' : ''}${meta.extraArgs ? `, \`${meta.extraArgs}\`` : ''}${ALT_ARGS ? `, kubegate-alt \`${meta.altArgs}\`` : ''}, listener h2 ${meta.kubegateH2 ? 'on' : 'off'}; ${ROUNDS} alternating rounds of ${SECONDS} s, medians; ${CONNECTIONS} connections; load ${meta.loadTool}; nginx ${meta.nginx ? 'yes' : runs('1') ? 'not installed' : 'not used'}; floors ${FLOORS.join(', ') || 'none'}; watches ${WATCHES} (h1), ${H2_WATCHES} over ${H2_SESSIONS} sessions (h2); list ${LIST_MB} MB; scenarios ${ONLY ? ONLY.join(', ') : 'all'}; ${meta.durationSeconds} s in all.`,
    '',
    '| # | metric | value | unit | target | result |',
    '|---|---|---:|---|---|---|',
    ...rows.map((r) => `| ${r.scenario} | ${r.metric} | ${fmt(r.value)} | ${r.unit} | ${r.target ?? ''} | ${r.pass === undefined ? '' : r.pass ? 'pass' : '**miss**'} |`),
    ...(notes.length ? ['', ...notes.map((n) => `- ${n}`)] : []),
  ].join('\n');
  const stamp = meta.date.replace(/[:.]/g, '-');
  const tmpJson = join(tmpdir(), `kubegate-bench-${stamp}.json`);
  const tmpMd = join(tmpdir(), `kubegate-bench-${stamp}.md`);
  writeFileSync(tmpJson, json);
  writeFileSync(tmpMd, table + '\n');
  console.log(`\nresults: ${tmpMd} and ${tmpJson}`);
  if (process.env.BENCH_WRITE !== '1') {
    console.log('(docs/benchmarks.md and docs/benchmarks.json left alone: set BENCH_WRITE=1 to update them from a quiet machine)');
    return;
  }
  const mdPath = join(ROOT, 'docs/benchmarks.md');
  const md = readFileSync(mdPath, 'utf8');
  const start = '<!-- bench:results:start -->';
  const end = '<!-- bench:results:end -->';
  const i = md.indexOf(start);
  const j = md.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/benchmarks.md has no ${start} … ${end} block to replace`);
  writeFileSync(mdPath, md.slice(0, i + start.length) + '\n' + table + '\n' + md.slice(j));
  writeFileSync(join(ROOT, 'docs/benchmarks.json'), json);
  console.log('wrote docs/benchmarks.md (results block) and docs/benchmarks.json');
}
