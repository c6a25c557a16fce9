/**
 * Notice when the configuration file changes, including a mounted ConfigMap updated by Kubernetes'
 * symlink swap (`config.yaml → ..data/config.yaml`, `..data` re-pointed atomically), which an fs.watch on
 * the file misses: the path is stat'ed (following links) and, when its identity or size or time changed,
 * read and compared by content. Polling, once a second by default: cheap, and it sees every swap.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';

export interface FileWatch {
  stop(): void;
}

/** Call `onChange` (at most once per check) when the content at `path` differs from what it was. */
export function watchConfigFile(path: string, onChange: () => void, intervalMs = 1000): FileWatch {
  let lastStat = '';
  let lastHash: string | undefined;
  let busy = false;
  const check = async () => {
    if (busy) return;
    busy = true;
    try {
      const st = await stat(path);
      const key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
      if (key === lastStat) return;
      lastStat = key;
      const hash = createHash('sha256').update(await readFile(path)).digest('hex');
      if (lastHash !== undefined && hash !== lastHash) onChange();
      lastHash = hash;
    } catch {
      // Missing for a moment (mid-swap) or unreadable: look again next time; the reload reports errors.
      lastStat = '';
    } finally {
      busy = false;
    }
  };
  void check();
  const timer = setInterval(() => void check(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
