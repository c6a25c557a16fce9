/**
 * The command line behaves like kubectl's: `kubegate version` (version, git commit, Node.js), `--version`
 * unchanged, `<command> --help` and `help <command>` print that command's help, a mistyped flag or command
 * gets "did you mean", a broken YAML file shows file:line:column and the line, validation speaks plain
 * words, and `kubegate` works from PATH through a symlink (what `npm link` / `npm install -g .` make).
 * Run as a user would: bin/kubegate in a child process.
 */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnv, kubegate, REPO } from './cli-harness.js';

const home = mkdtempSync(join(tmpdir(), 'kubegate-cli-'));
t.teardown(() => rmSync(home, { recursive: true, force: true }));
const env = cleanEnv(home);
const { version } = (await import('../../package.json', { with: { type: 'json' } })).default as { version: string };

t.test('kubegate version: version, git commit when known, Node.js', async (t) => {
  const r = await kubegate(['version'], env);
  t.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trimEnd().split('\n');
  t.equal(lines[0], `kubegate ${version}`);
  t.ok(lines.includes(`node: ${process.version}`), 'the Node.js version');
  t.match(r.stdout, /^git commit: [0-9a-f]{40}$/m, "the checkout's commit, read from .git");

  const built = await kubegate(['version', '-o', 'json'], { ...env, KUBEGATE_GIT_COMMIT: 'abc1234' });
  t.equal(built.code, 0, built.stderr);
  t.match(JSON.parse(built.stdout), { version, gitCommit: 'abc1234', node: process.version });

  const plain = await kubegate(['--version'], env);
  t.equal(plain.stdout, `kubegate ${version}\n`, '--version prints exactly one line');
});

t.test('<command> --help and help <command> print that command\'s help', async (t) => {
  for (const [args, first] of [
    [['serve', '--help'], 'Usage: kubegate serve'],
    [['check-config', '-h'], 'Usage: kubegate check-config [--offline]'],
    [['help', 'login'], 'Usage: kubegate login'],
    [['version', '--help'], 'Usage: kubegate version'],
    [['sudo', '--help'], 'Usage: kubegate sudo'],
  ] as const) {
    const r = await kubegate([...args], env);
    t.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    t.equal(r.stdout.split('\n')[0]!.slice(0, first.length), first, args.join(' '));
  }
  const check = await kubegate(['check-config', '--help'], env);
  t.match(check.stdout, '--offline');
  t.match(check.stdout, '--oidc-issuer-url', 'with the settings flags');
});

t.test('a mistyped command or flag: "did you mean", and nothing else', async (t) => {
  const cmd = await kubegate(['sever'], env);
  t.equal(cmd.code, 2);
  t.match(cmd.stderr, 'unknown command "sever"; did you mean "serve"?');
  const flag = await kubegate(['serve', '--secure-prot', '8443'], env);
  t.equal(flag.code, 1);
  t.match(flag.stderr, '--secure-prot: unknown flag; did you mean --secure-port?');
  t.notMatch(flag.stderr, /is required/, 'no cascade of missing settings');
});

t.test('a broken YAML file: file, line, column and the line; nothing else', async (t) => {
  const file = join(home, 'broken.yaml');
  writeFileSync(file, ['server:', '  tlsCertFile: /etc/tls.crt', '  tlsPrivateKeyFile: [/etc/tls.key', 'oidc:', '  issuerUrl: https://login.example.com', ''].join('\n'));
  const r = await kubegate(['check-config', '--config', file], env);
  t.equal(r.code, 1);
  t.match(r.stderr, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: not valid YAML: `));
  t.match(r.stderr, /\n {4}.*\S.*\n {4} *\^/, 'the offending line with a caret under the column');
  t.notMatch(r.stderr, /is required/);

  const missing = await kubegate(['check-config', '--config', join(home, 'nope.yaml')], env);
  t.match(missing.stderr, `${join(home, 'nope.yaml')}: cannot read config file: no such file`);
  t.notMatch(missing.stderr, /is required/);
});

t.test('validation in plain words', async (t) => {
  const file = join(home, 'ports.yaml');
  writeFileSync(file, ['server:', '  tlsCertFile: /etc/tls.crt', '  tlsPrivateKeyFile: /etc/tls.key', '  securePort: "8443"', 'oidc:', '  issuerUrl: https://login.example.com', '  clientId: k', 'log:', '  level: verbose', ''].join('\n'));
  const r = await kubegate(['check-config', '--offline', '--config', file], env);
  t.equal(r.code, 1);
  t.match(r.stderr, 'server.securePort (--secure-port): must be a port number between 0 and 65535, not the string "8443"');
  t.match(r.stderr, 'log.level (--log-level): must be one of error, warn, info, debug, not the string "verbose"');
  const flag = await kubegate(['check-config', '--offline', '--config', file, '--secure-port', '70000', '--log-level', 'info'], env);
  t.match(flag.stderr, 'server.securePort (--secure-port): must be a port number between 0 and 65535, not 70000');
  const word = await kubegate(['check-config', '--offline', '--config', file, '--secure-port', 'https', '--log-level', 'info'], env);
  t.match(word.stderr, 'server.securePort (--secure-port): must be a port number between 0 and 65535, not "https"');
});

t.test('kubegate from PATH through a symlink, as npm link / npm install -g . install it', async (t) => {
  const bin = join(home, 'global', 'bin');
  mkdirSync(bin, { recursive: true });
  symlinkSync(join(REPO, 'bin', 'kubegate'), join(bin, 'kubegate'));
  const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
    execFile('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'kubegate', '--version'], { cwd: home, env: { ...env, PATH: `${bin}:${env.PATH ?? ''}` }, timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stdout, stderr }),
    );
  });
  t.equal(r.code, 0, r.stderr);
  t.equal(r.stdout, `kubegate ${version}\n`);
});
