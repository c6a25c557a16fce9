/**
 * `kubegate version [-o json]`: kubegate's version, the git commit when it is known, and the Node.js
 * version, like `kubectl version --client`. The commit comes from `KUBEGATE_GIT_COMMIT` (set by a build
 * that knows it), else from the checkout's .git (a plain repository or a worktree); it is left out when
 * neither is there (e.g. in the image, whose build context has no .git).
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VERSION } from '../version/version.js';
import { UsageError, outputFormat, parseFlags } from './usage.js';

export interface VersionInfo {
  version: string;
  gitCommit?: string;
  node: string;
  platform: string;
}

export function versionInfo(env: NodeJS.ProcessEnv = process.env): VersionInfo {
  const commit = env.KUBEGATE_GIT_COMMIT?.trim() || gitCommit(resolve(dirname(fileURLToPath(import.meta.url)), '../..'));
  return { version: VERSION, ...(commit ? { gitCommit: commit } : {}), node: process.version, platform: `${process.platform}/${process.arch}` };
}

export async function versionCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { output: { type: 'string', short: 'o' } }, true);
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const info = versionInfo();
  if (outputFormat(values.output) === 'json') process.stdout.write(JSON.stringify(info, null, 2) + '\n');
  else {
    const lines = [`kubegate ${info.version}`, ...(info.gitCommit ? [`git commit: ${info.gitCommit}`] : []), `node: ${info.node}`, `platform: ${info.platform}`];
    process.stdout.write(lines.join('\n') + '\n');
  }
  return 0;
}

/** The commit HEAD points at in the checkout at `root`, or undefined. Reads files only; never runs git. */
function gitCommit(root: string): string | undefined {
  try {
    let gitDir = join(root, '.git');
    let commonDir = gitDir;
    if (statSync(gitDir).isFile()) {
      // A worktree: ".git" holds "gitdir: PATH"; its refs live in the common directory.
      const target = /^gitdir:\s*(.+)$/m.exec(readFileSync(gitDir, 'utf8'))?.[1]?.trim();
      if (!target) return undefined;
      gitDir = isAbsolute(target) ? target : resolve(root, target);
      try {
        const common = readFileSync(join(gitDir, 'commondir'), 'utf8').trim();
        commonDir = isAbsolute(common) ? common : resolve(gitDir, common);
      } catch {
        commonDir = gitDir;
      }
    }
    const head = readFileSync(join(gitDir, 'HEAD'), 'utf8').trim();
    const ref = /^ref:\s*(.+)$/.exec(head)?.[1];
    if (ref === undefined) return /^[0-9a-f]{40}$/.test(head) ? head : undefined;
    for (const dir of [gitDir, commonDir]) {
      try {
        const sha = readFileSync(join(dir, ref), 'utf8').trim();
        if (/^[0-9a-f]{40}$/.test(sha)) return sha;
      } catch {
        // not a loose ref here
      }
    }
    const packed = readFileSync(join(commonDir, 'packed-refs'), 'utf8');
    return new RegExp(`^([0-9a-f]{40}) ${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm').exec(packed)?.[1];
  } catch {
    return undefined;
  }
}
