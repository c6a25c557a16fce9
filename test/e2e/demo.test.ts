/** The README's first command: the demo starts, prints a working kubeconfig, and stops cleanly. */
import t from 'tap';
import { execFile, spawn } from 'node:child_process';
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
  demo.kill('SIGTERM');
  t.equal(await exited, 0, 'stops cleanly on SIGTERM');
});
