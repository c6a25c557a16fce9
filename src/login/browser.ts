/**
 * Opening the sign-in URL in the person's browser: `$BROWSER` (a `:`-separated list of commands, each run
 * with the URL as its last argument, or in place of a `%s`), else `xdg-open` (Linux), `open` (macOS) or
 * the URL handler (Windows). The command runs detached with no stdio — the plugin's stdout belongs to
 * kubectl — and is not waited for. Whether or not one starts, the caller also prints the URL on stderr.
 */
import { spawn } from 'node:child_process';

/** Open `url`; resolves with the command that started, or undefined when none could be started. */
export type OpenBrowser = (url: string) => Promise<string | undefined>;

/** The candidate command lines for `url`, in order. */
export function browserCommands(url: string, env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string[][] {
  const fromEnv = (env.BROWSER ?? '')
    .split(':')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map((entry) => {
      const words = entry.split(/\s+/);
      return words.includes('%s') ? words.map((w) => (w === '%s' ? url : w)) : [...words, url];
    });
  if (fromEnv.length) return fromEnv;
  if (platform === 'darwin') return [['open', url]];
  if (platform === 'win32') return [['rundll32', 'url.dll,FileProtocolHandler', url]];
  return [['xdg-open', url]];
}

/** The default opener: tries {@link browserCommands} in order until one starts. */
export function systemBrowser(env: NodeJS.ProcessEnv = process.env): OpenBrowser {
  return async (url) => {
    for (const [command, ...args] of browserCommands(url, env)) {
      if (command && (await started(command, args, env))) return command;
    }
    return undefined;
  };
}

function started(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(command, args, { detached: true, stdio: 'ignore', env });
    } catch {
      resolve(false);
      return;
    }
    child.once('error', () => resolve(false));
    child.once('spawn', () => {
      child.unref();
      resolve(true);
    });
  });
}
