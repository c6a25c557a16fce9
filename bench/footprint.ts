/**
 * Footprint: start-up to ready (spawn → /readyz 200, issuer keys loaded), the CPU time kubegate used until
 * then (less sensitive to a busy machine than the wall time), and resident memory of an idle
 * `kubegate serve`, for several builds side by side in one run (rounds alternate between them, medians
 * are printed). Not part of `npm test`; run with `npx tsx bench/footprint.ts`.
 *
 * Env:
 *   FOOT_ROUNDS   rounds per target (default 5)
 *   FOOT_TARGETS  label=entry pairs, comma-separated (default "dist=dist/cli/main.js,tsx=bin/kubegate");
 *                 an entry is a path to a kubegate main script, relative to the repository or absolute
 *   FOOT_CONFIG   minimal (flags as in the Dockerfile's use: OIDC, kubeconfig, audit file; default) or
 *                 demo (a config file adding the sign-in page and a file elevation store, as the demo has)
 *   FOOT_IDLE_MS  how long after ready the idle RSS is read (default 1000)
 *   FOOT_ARGS     extra node arguments for every target (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof")
 *   FOOT_NODE     the node binary that runs kubegate (default: the one running this script)
 */
import { fork, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { isAbsolute, join } from 'node:path';
import { kubeconfigYaml } from '../test/support/harness.js';
import { createPki } from '../test/support/pki.js';
import { startBenchIssuer } from './issuer.js';

const ROOT = new URL('..', import.meta.url).pathname;
const ROUNDS = Number(process.env.FOOT_ROUNDS ?? 5);
const IDLE_MS = Number(process.env.FOOT_IDLE_MS ?? 1000);
const CONFIG = process.env.FOOT_CONFIG ?? 'minimal';
const NODE_ARGS = (process.env.FOOT_ARGS ?? '').split(' ').filter(Boolean);
const NODE = process.env.FOOT_NODE ?? process.execPath;
const targets = (process.env.FOOT_TARGETS ?? 'dist=dist/cli/main.js,tsx=bin/kubegate').split(',').map((pair) => {
  const [label, entry] = pair.split('=') as [string, string];
  return { label, entry: isAbsolute(entry) ? entry : join(ROOT, entry) };
});

const pki = createPki();
const serving = pki.server();
const upstream = fork(join(ROOT, 'bench/upstream.ts'), [serving.certFile, serving.keyFile], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const upstreamPort = await new Promise<number>((resolve) => upstream.once('message', (m: { port: number }) => resolve(m.port)));
const upstreamKubeconfig = join(pki.dir, 'upstream.kubeconfig');
writeFileSync(upstreamKubeconfig, kubeconfigYaml(`https://127.0.0.1:${upstreamPort}`, pki.caFile, 'bench-service-account-token'));
const issuer = await startBenchIssuer(serving.cert, serving.key, 'kubegate');

const flags = ['--bind-address', '127.0.0.1', '--secure-port', '0', '--metrics-bind-address', '127.0.0.1:0', '--tls-cert-file', serving.certFile, '--tls-private-key-file', serving.keyFile,
  '--oidc-issuer-url', issuer.url, '--oidc-client-id', 'kubegate', '--oidc-ca-file', pki.caFile, '--kubeconfig', upstreamKubeconfig, '--audit-log-path', join(pki.dir, 'audit.log')];
if (CONFIG === 'demo') {
  const secretFile = join(pki.dir, 'page-secret');
  writeFileSync(secretFile, 'page-secret-value\n', { mode: 0o600 });
  const configFile = join(pki.dir, 'config.json');
  writeFileSync(configFile, JSON.stringify({
    loginPage: { enabled: true, publicUrl: 'https://127.0.0.1:8443', clientId: 'kubegate-page', clientSecretFile: secretFile, kubeconfig: { certificateAuthorityFile: pki.caFile } },
    elevation: { store: { type: 'file', path: join(pki.dir, 'elevations.json') }, rules: [{ name: 'break-glass', requesters: { groups: ['on-call'] }, groups: ['break-glass:cluster-admin'], maxDurationSeconds: 1800, approvers: { groups: ['sre-leads'] } }] },
  }));
  flags.push('--config', configFile);
} else if (CONFIG !== 'minimal') throw new Error(`FOOT_CONFIG: minimal or demo, got ${CONFIG}`);

const results = new Map<string, { readyMs: number[]; cpuMs: number[]; rssReady: number[]; rssIdle: number[] }>();
for (const t of targets) results.set(t.label, { readyMs: [], cpuMs: [], rssReady: [], rssIdle: [] });
for (let round = 0; round < ROUNDS; round++) {
  for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
    const r = await measure(t.entry);
    const acc = results.get(t.label)!;
    acc.readyMs.push(r.readyMs);
    acc.cpuMs.push(r.cpuMs);
    acc.rssReady.push(r.rssReady);
    acc.rssIdle.push(r.rssIdle);
    console.log(`  round ${round + 1} ${t.label.padEnd(10)} ready ${r.readyMs.toFixed(0).padStart(5)} ms (CPU ${r.cpuMs.toFixed(0).padStart(4)} ms)   RSS at ready ${r.rssReady.toFixed(1).padStart(6)} MB   idle ${r.rssIdle.toFixed(1).padStart(6)} MB`);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log(`\nmedians of ${ROUNDS} (config ${CONFIG}, ${NODE === process.execPath ? `node ${process.version}` : NODE}):`);
console.log(`  ${'target'.padEnd(10)} ${'ready ms'.padStart(9)} ${'CPU ms'.padStart(7)} ${'RSS@ready'.padStart(10)} ${'idle RSS'.padStart(9)}`);
for (const [label, r] of results) {
  console.log(`  ${label.padEnd(10)} ${median(r.readyMs).toFixed(0).padStart(9)} ${median(r.cpuMs).toFixed(0).padStart(7)} ${median(r.rssReady).toFixed(1).padStart(10)} ${median(r.rssIdle).toFixed(1).padStart(9)}`);
}
upstream.kill();
await issuer.close();
pki.cleanup();
process.exit(0);

async function measure(entry: string): Promise<{ readyMs: number; cpuMs: number; rssReady: number; rssIdle: number }> {
  const t0 = performance.now();
  const child = spawn(NODE, [...NODE_ARGS, entry, 'serve', ...flags], { env: { ...process.env, KUBEGATE_LOG_LEVEL: 'info' }, stdio: ['ignore', 'ignore', 'pipe'] });
  let port = 0;
  let log = '';
  child.stderr!.on('data', (c: Buffer) => {
    log += c.toString();
    const m = /"address":"127\.0\.0\.1:(\d+)"/.exec(log);
    if (m) port = Number(m[1]);
  });
  try {
    for (;;) {
      if (port && (await readyz(port))) break;
      if (child.exitCode !== null || performance.now() - t0 > 20_000) throw new Error(`kubegate did not become ready:\n${log}`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const readyMs = performance.now() - t0;
    const rssReady = rssMB(child.pid!);
    const cpuMs = cpuTimeMs(child.pid!);
    await new Promise((r) => setTimeout(r, IDLE_MS));
    return { readyMs, cpuMs, rssReady, rssIdle: rssMB(child.pid!) };
  } finally {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
  }
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** User + system CPU time the process has used so far (/proc/PID/stat utime and stime, in clock ticks of 10 ms). */
function cpuTimeMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function readyz(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    https
      .get(`https://127.0.0.1:${port}/readyz`, { ca: pki.ca, agent: false, timeout: 5000 }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('timeout', function (this: import('node:http').ClientRequest) {
        this.destroy();
      })
      .on('error', () => resolve(false));
  });
}
