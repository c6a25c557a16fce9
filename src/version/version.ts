/** kubegate's version, read once from package.json (shipped beside dist/ in the image and in a checkout). */
import { readFileSync } from 'node:fs';

function readVersion(): string {
  for (const candidate of ['../../package.json', '../../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'kubegate' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next location (src/version/ in a checkout, dist/version/ in the image)
    }
  }
  return 'unknown';
}

export const VERSION = readVersion();
