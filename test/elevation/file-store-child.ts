/**
 * A second process on the same elevation file (for file-store.test.ts): `count` read-modify-write
 * increments of one elevation's durationSeconds, retrying on ELEVATION_CONFLICT; prints the conflicts seen.
 * Usage: node --import=tsx file-store-child.ts <path> <id> <count>
 */
import { KubegateError } from '../../src/errors/errors.js';
import { createFileElevationStore } from '../../src/elevation/file-store.js';
import { silentLogger } from '../../src/log/logger.js';

const [path, id, count] = process.argv.slice(2);
const store = createFileElevationStore({ path: path!, log: silentLogger() });
await store.ready();
let conflicts = 0;
for (let done = 0; done < Number(count); ) {
  const current = await store.get(id!);
  if (!current) throw new Error(`no elevation ${id}`);
  try {
    await store.update({ ...current, durationSeconds: current.durationSeconds + 1 });
    done++;
  } catch (err) {
    if (!(err instanceof KubegateError) || err.code !== 'ELEVATION_CONFLICT') throw err;
    conflicts++;
  }
}
store.close();
process.stdout.write(JSON.stringify({ conflicts }));
