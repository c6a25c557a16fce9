/** The README's first command: the demo starts, prints a working kubeconfig, and stops cleanly. */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, kubegate as kubegateCli } from '../cli/cli-harness.js';
import { KUBECTL } from '../support/harness.js';

t.test('npm run demo: kubectl auth whoami shows the demo identity', async (t) => {
  const demo = spawn(process.execPath, ['--import', 'tsx', 'examples/demo/main.ts'], {
    env: { ...process.env, KUBEGATE_DEMO_STANDIN: '1', KUBEGATE_DEMO_PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => demo.on('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (demo.exitCode === null) demo.kill('SIGKILL');
  });
  let out = '';
  const kubeconfig = await new Promise<string>((resolve, reject) => {
    demo.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /kubectl --kubeconfig (\S+) auth whoami\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    demo.on('exit', () => reject(new Error(`demo exited early:\n${out}`)));
  });
  t.match(out, /STAND-IN API server/, 'the stand-in is clearly labelled');
  const whoami = await new Promise<string>((resolve, reject) =>
    execFile(KUBECTL, ['--kubeconfig', kubeconfig, 'auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username} {.status.userInfo.groups}'], (err, stdout, stderr) =>
      err ? reject(new Error(stderr)) : resolve(stdout),
    ),
  );
  t.equal(whoami, 'jane@example.com ["oidc:developers","oidc:on-call","system:authenticated"]');
  const kubectl = (args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(KUBECTL, ['--kubeconfig', kubeconfig, ...args], (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout, stderr })),
    );
  const sudo = await kubectl(['auth', 'whoami', '--as', 'devops-admin', '-o', 'jsonpath={.status.userInfo.username}']);
  t.equal(sudo.stdout, 'devops-admin', 'the printed --as example works: the stand-in RBAC allows it');
  const refused = await kubectl(['get', '--raw', '/api/v1/namespaces/default/pods', '--as', 'root']);
  t.match(refused.stderr, /users "root" is forbidden/, 'and the refused one is refused');

  // Break glass as printed: jane asks with `kubegate sudo` (her kubeconfig, her token), sam approves.
  const approver = /elevations list --kubeconfig (\S+)/.exec(out)?.[1];
  t.ok(approver, 'the demo prints the approver\'s kubeconfig');
  const home = mkdtempSync(join(tmpdir(), 'kubegate-demo-home-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const cli = (args: string[]) => kubegateCli(args, cleanEnv(home));
  const asked = await cli(['sudo', '--kubeconfig', kubeconfig, '--group', 'break-glass:cluster-admin', '--for', '15m', '--reason', 'INC-4211 demo', '--no-wait']);
  t.equal(asked.code, 0, asked.stderr);
  const id = asked.stdout.trim();
  t.match(id, /^elev-/, 'sudo --no-wait prints the pending elevation\'s id');
  t.match(asked.stderr, /approv/i, 'and says a second person must approve');
  const self = await cli(['elevations', 'approve', id, '--kubeconfig', kubeconfig]);
  t.equal(self.code, 1);
  t.match(self.stderr, /cannot approve your own request/);
  const approved = await cli(['elevations', 'approve', id, '--kubeconfig', approver!]);
  t.equal(approved.code, 0, approved.stderr);
  const elevated = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}']);
  t.match(elevated.stdout, /break-glass:cluster-admin/, 'jane\'s next request carries the break-glass group');
  const revoked = await cli(['elevations', 'revoke', id, '--kubeconfig', kubeconfig]);
  t.equal(revoked.code, 0, revoked.stderr);
  t.notMatch((await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.groups}'])).stdout, /break-glass/, 'revoked: gone on the next request');
  // The sign-in page the demo prints: it sends the browser to the development issuer.
  const pageUrl = /open (https:\/\/\S+\/kubegate\/login) in a browser/.exec(out)?.[1];
  t.ok(pageUrl, 'the demo prints the sign-in page');
  const ca = readFileSync(/certificate-authority: (\S+)/.exec(readFileSync(kubeconfig, 'utf8'))![1]!, 'utf8');
  const page = await new Promise<{ status: number; location: string | undefined }>((resolve, reject) =>
    request(pageUrl!, { ca, agent: false }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    }).on('error', reject).end(),
  );
  t.equal(page.status, 303, 'the page starts the sign-in');
  t.match(page.location, /^https:\/\/127\.0\.0\.1:\d+\/auth\?.*code_challenge_method=S256/, 'at the development issuer, with PKCE');
  demo.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
});
