/**
 * The container image, without a container engine (there is none on these machines or in CI): this test
 * reads the Dockerfile, assembles its runtime stage's files the way it does — the build stage's `npm run
 * build` on the files the build stage copies, the deps stage's `npm ci --omit=dev` from the lockfile, the
 * runtime stage's COPY list — then runs kubegate from that directory alone, as the image's ENTRYPOINT
 * would, and checks nothing from test/, bench/, examples/ or the dev dependencies is in it.
 *
 * Not covered: the base images themselves (their Node.js version, their user), which only a real build
 * shows. kubegate runs here on this machine's node, not the image's.
 *
 * Time: about 15 s (tsc about 5 s, npm ci from the npm cache about 5 s; from the registry when the cache
 * lacks a package, which only an `npm ci` not yet run here causes). Bounded by the timeouts below and
 * the file's own 240 s.
 */
import t from 'tap';
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

t.setTimeout(240_000);

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string; scripts: Record<string, string> };
const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { dev?: boolean }> };

// ---------------------------------------------------------------- the Dockerfile, parsed

interface Instruction { op: string; args: string }
interface Stage { name: string; base: string; instructions: Instruction[] }

/** Stages with their instructions; `ARG`s before the first FROM substituted into FROM lines. */
function parseDockerfile(text: string): Stage[] {
  const lines = text.replace(/\\\r?\n/g, ' ').split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, op = '', rest = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    const upper = op.toUpperCase();
    if (upper === 'ARG' && stages.length === 0) {
      const [name, value = ''] = rest.split('=');
      args[name!.trim()] = value.trim();
    } else if (upper === 'FROM') {
      const [image = '', , name] = rest.replace(/\$\{(\w+)\}/g, (_, v: string) => args[v] ?? '').split(/\s+/);
      stages.push({ name: name ?? String(stages.length), base: image, instructions: [] });
    } else stages.at(-1)?.instructions.push({ op: upper, args: rest });
  }
  return stages;
}

/** COPY [--from=STAGE] SRC... DEST */
function parseCopy(args: string): { from?: string; sources: string[]; dest: string } {
  const words = args.split(/\s+/);
  const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
  const paths = words.filter((w) => !w.startsWith('--'));
  return { ...(from ? { from } : {}), sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

const stages = parseDockerfile(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));
const runtime = stages.at(-1)!;
const stage = (name: string) => {
  const s = stages.find((x) => x.name === name);
  if (!s) throw new Error(`the Dockerfile has no stage ${name}`);
  return s;
};
const of = (s: Stage, op: string) => s.instructions.filter((i) => i.op === op);

// ---------------------------------------------------------------- .dockerignore, for the patterns it uses

/** Is a context path sent to the builder? Supports what .dockerignore uses: `*`, names, `!name`. */
function inContext(path: string): boolean {
  const rules = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  let included = true;
  for (const rule of rules) {
    const negate = rule.startsWith('!');
    const pattern = (negate ? rule.slice(1) : rule).replace(/^\/|\/$/g, '');
    if (!/^[\w.*-]+(\/[\w.*-]+)*$/.test(pattern)) throw new Error(`.dockerignore pattern ${JSON.stringify(rule)} is beyond what this test understands`);
    const re = new RegExp(`^${pattern.replace(/\./g, '\\.').replace(/\*/g, '[^/]*')}(/.*)?$`);
    if (re.test(path)) included = negate;
  }
  return included;
}

t.test('.dockerignore sends the builder only what the Dockerfile copies', async (t) => {
  for (const s of stages) for (const copy of of(s, 'COPY').map((c) => parseCopy(c.args)).filter((c) => !c.from)) {
    for (const source of copy.sources) t.ok(inContext(source.replace(/^\.\//, '')), `${source} (stage ${s.name}) is in the build context`);
  }
  for (const path of ['test', 'bench', 'examples', 'node_modules', 'dist', '.git', 'coverage', '.tap', 'manifests', 'docs', 'bin', '.env', 'kubeconfig']) {
    t.notOk(inContext(path), `${path} is not in the build context`);
  }
});

t.test('the Dockerfile: one Node.js LTS line, a distroless runtime, a numeric non-root user', async (t) => {
  const majors = stages.map((s) => /^node:(\d+)-|\/nodejs(\d+)-debian\d+/.exec(s.base)).map((m) => m?.[1] ?? m?.[2]);
  t.ok(majors.every((m) => m !== undefined), `every stage is a Node.js image: ${stages.map((s) => s.base).join(', ')}`);
  t.equal(new Set(majors).size, 1, 'every stage uses the same Node.js major version');
  t.ok(Number(majors[0]) % 2 === 0 && Number(majors[0]) >= 22, `Node.js ${majors[0]} is an LTS line`);
  t.match(runtime.base, /^gcr\.io\/distroless\/nodejs\d+-debian\d+:nonroot$/, 'the runtime is distroless (no shell, no package manager)');
  t.same(of(runtime, 'RUN'), [], 'the runtime stage runs nothing (it has no shell)');
  const user = of(runtime, 'USER').at(-1)?.args ?? '';
  t.match(user, /^\d+(:\d+)?$/, 'USER is numeric');
  t.not(Number(user.split(':')[0]), 0, 'USER is not root');
  t.equal(of(runtime, 'WORKDIR').at(-1)?.args, '/app');
  t.same(JSON.parse(of(runtime, 'ENTRYPOINT').at(-1)?.args ?? 'null'), ['/nodejs/bin/node', '/app/dist/cli/main.js'], 'the entrypoint runs the compiled CLI');
  t.same(JSON.parse(of(runtime, 'CMD').at(-1)?.args ?? 'null'), ['serve', '--config', '/etc/kubegate/config/config.yaml'], 'by default it serves the config where the manifests mount it');
  t.equal(pkg.scripts.build, 'tsc -p tsconfig.build.json', '`npm run build` is the tsc build this test replays');
});

// ---------------------------------------------------------------- the runtime stage's files, assembled

const dir = mkdtempSync(join(tmpdir(), 'kubegate-image-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const app = join(dir, 'app');
const run = (file: string, args: string[], options: ExecFileSyncOptions & { timeout: number }) =>
  execFileSync(file, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 16 << 20, ...options }) as string;
const npm = (args: string[], cwd: string, timeout: number) => run(process.platform === 'win32' ? 'npm.cmd' : 'npm', args, { cwd, timeout, env: { ...process.env, npm_config_update_notifier: 'false' } });

/** Replay a stage's COPY instructions from the repository (the build context) into `into`. */
function copyContext(s: Stage, into: string): void {
  for (const copy of of(s, 'COPY').map((c) => parseCopy(c.args))) {
    if (copy.from) throw new Error(`stage ${s.name} copies from ${copy.from}: teach test/image.test.ts`);
    for (const source of copy.sources) {
      const target = copy.dest.endsWith('/') || copy.sources.length > 1 ? join(into, copy.dest, posix.basename(source)) : join(into, copy.dest);
      cpSync(join(ROOT, source), target, { recursive: true });
    }
  }
}

/** The build stage: its files, the repository's dev dependencies (instead of a second full npm ci), `npm run build`. */
function buildStage(): string {
  const build = stage('build');
  t.same(of(build, 'RUN').map((r) => r.args), ['npm ci --no-audit --no-fund', 'npm run build'], 'the build stage does what this test replays');
  const into = join(dir, 'build');
  mkdirSync(into);
  copyContext(build, into);
  symlinkSync(join(ROOT, 'node_modules'), join(into, 'node_modules'), 'dir');
  npm(['run', 'build', '--silent'], into, 120_000);
  return into;
}

/** The deps stage: its files and its `npm ci --omit=dev`, from the npm cache when it has every package. */
function depsStage(): string {
  const deps = stage('deps');
  const command = of(deps, 'RUN').map((r) => r.args);
  t.equal(command.length, 1, 'the deps stage runs one command');
  t.match(command[0], /^npm ci (.* )?--omit=dev( |$)/, 'it installs production dependencies only');
  const into = join(dir, 'deps');
  mkdirSync(into);
  copyContext(deps, into);
  const args = command[0]!.split(/\s+/).slice(1);
  try {
    npm([...args, '--offline'], into, 60_000);
  } catch (err) {
    if (!/ENOTCACHED/.test(String((err as { stderr?: unknown }).stderr))) throw err;
    t.comment('the npm cache lacks a locked package: installing from the registry');
    rmSync(join(into, 'node_modules'), { recursive: true, force: true });
    npm([...args, '--prefer-offline'], into, 120_000);
  }
  return into;
}

const started = Date.now();
const built: Record<string, () => string> = { build: buildStage, deps: depsStage };
const stageDirs = new Map<string, string>();
mkdirSync(app);
for (const copy of of(runtime, 'COPY').map((c) => parseCopy(c.args))) {
  const target = join(app, copy.dest);
  if (!copy.from) {
    for (const source of copy.sources) cpSync(join(ROOT, source), copy.dest.endsWith('/') ? join(target, posix.basename(source)) : target, { recursive: true });
    continue;
  }
  const make = built[copy.from];
  if (!make || copy.sources.length !== 1) throw new Error(`runtime COPY --from=${copy.from} ${copy.sources.join(' ')}: teach test/image.test.ts`);
  if (!stageDirs.has(copy.from)) stageDirs.set(copy.from, make());
  const source = join(stageDirs.get(copy.from)!, posix.relative('/src', copy.sources[0]!));
  if (!existsSync(source)) throw new Error(`stage ${copy.from} has no ${copy.sources[0]}`);
  renameSync(source, target);
}
t.comment(`runtime files assembled in ${((Date.now() - started) / 1000).toFixed(1)} s`);

/** kubegate as the image's ENTRYPOINT runs it: from /app alone, no NODE_OPTIONS, no tsx. */
const kubegate = (args: string[]) => {
  const [node, script] = JSON.parse(of(runtime, 'ENTRYPOINT').at(-1)!.args) as [string, string];
  t.equal(node, '/nodejs/bin/node');
  return run(process.execPath, [join(app, posix.relative('/app', script)), ...args], { cwd: app, timeout: 20_000, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' } });
};

t.test('kubegate --version and serve --help run from the runtime files alone', async (t) => {
  t.equal(kubegate(['--version']), `kubegate ${pkg.version}\n`);
  const help = kubegate(['serve', '--help']);
  for (const flag of ['--config', '--secure-port', '--metrics-bind-address', '--shutdown-grace-seconds', '--long-running-shutdown-grace-seconds', '--kubeconfig']) {
    t.match(help, flag, `serve --help lists ${flag} (the manifests use it)`);
  }
});

t.test('every compiled module loads with the production dependencies alone', async (t) => {
  // Importing each module resolves every import it makes; only the CLI entry point has side effects.
  const script = `
    import { readdirSync, statSync } from 'node:fs';
    import { join } from 'node:path';
    import { pathToFileURL } from 'node:url';
    const walk = (d) => readdirSync(d).flatMap((e) => statSync(join(d, e)).isDirectory() ? walk(join(d, e)) : [join(d, e)]);
    let n = 0;
    for (const f of walk(process.argv[1]).filter((f) => f.endsWith('.js') && !f.endsWith('/cli/main.js'))) { await import(pathToFileURL(f).href); n++; }
    console.log(n);`;
  const count = Number(run(process.execPath, ['--input-type=module', '-e', script, join(app, 'dist')], { cwd: app, timeout: 20_000, env: { PATH: process.env.PATH ?? '', NODE_ENV: 'production' } }));
  t.ok(count >= 20, `${count} modules loaded`);
});

/** Every file below a directory, relative to it. */
const walk = (d: string, base = d): string[] => readdirSync(d).flatMap((e) => (statSync(join(d, e)).isDirectory() ? walk(join(d, e), base) : [relative(base, join(d, e))]));

t.test('the image holds compiled src/ and production dependencies, nothing else', async (t) => {
  t.same(readdirSync(app).sort(), ['dist', 'node_modules', 'package.json'], 'top level: dist/, node_modules/, package.json');
  t.equal(readFileSync(join(app, 'package.json'), 'utf8'), readFileSync(join(ROOT, 'package.json'), 'utf8'), 'package.json (the version) is the repository\'s');
  const dist = walk(join(app, 'dist'));
  const strays = dist.filter((f) => !/\.js(\.map)?$/.test(f) || !existsSync(join(ROOT, 'src', f.replace(/\.js(\.map)?$/, '.ts'))));
  t.same(strays, [], 'every file in dist/ is compiled from a src/ module (nothing from test/, bench/, examples/)');
  t.notOk(dist.some((f) => /(^|\/)(test|bench|examples)\//.test(f) || /\.test\.js$/.test(f)), 'no test code in dist/');

  // Every installed package, nested ones too, is a locked production package.
  const installed: string[] = [];
  const packages = (nm: string, prefix: string) => {
    if (!existsSync(nm)) return;
    for (const name of readdirSync(nm)) {
      if (name.startsWith('.')) continue;
      const names = name.startsWith('@') ? readdirSync(join(nm, name)).map((n) => `${name}/${n}`) : [name];
      for (const n of names) {
        const key = `${prefix}node_modules/${n}`;
        installed.push(key);
        packages(join(nm, n, 'node_modules'), `${key}/`);
      }
    }
  };
  packages(join(app, 'node_modules'), '');
  t.ok(installed.length > 20, `${installed.length} packages installed`);
  t.same(installed.filter((p) => !lock.packages[p]), [], 'every installed package is in package-lock.json');
  t.same(installed.filter((p) => lock.packages[p]?.dev), [], 'no development-only package is installed');
  // (@types/node is there too, as a dependency @kubernetes/client-node declares for its own types.)
  for (const tool of ['tap', 'tsx', 'typescript', 'oidc-provider', 'c8', 'autocannon', 'playwright-core', 'esbuild', '@types/ws']) {
    t.notOk(existsSync(join(app, 'node_modules', tool)), `${tool} is not in the image`);
  }
  // ws is a devDependency of kubegate's tests AND a dependency of @kubernetes/client-node (exec/attach
  // clients), so the production tree has it: present, and locked as a production package.
  t.ok(lock.packages['node_modules/ws'] && !lock.packages['node_modules/ws'].dev, 'ws is in the image only as a production dependency (of @kubernetes/client-node)');
});
