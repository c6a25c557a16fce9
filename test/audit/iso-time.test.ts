/**
 * Audit timestamps are formatted once per second (audit/event.ts isoTime): whatever the order of the
 * dates, each must read exactly as `toISOString()` does (the cache must never hand out another second's
 * prefix), extended years and dates before 1970 included; an invalid date still throws.
 */
import t from 'tap';
import fc from 'fast-check';
import { isoTime } from '../../src/audit/event.js';

const MAX = 8.64e15;

t.test('isoTime reads as toISOString, in any order of dates', async (t) => {
  // Neighbours of a few seconds (the cache's hits and misses) and anywhere in the Date range.
  const near = fc.tuple(fc.integer({ min: -MAX + 10_000, max: MAX - 10_000 }), fc.array(fc.integer({ min: -3000, max: 3000 }), { minLength: 1, maxLength: 20 }));
  fc.assert(
    fc.property(fc.array(near, { minLength: 1, maxLength: 5 }), (groups) => {
      for (const [base, offsets] of groups) {
        for (const off of offsets) {
          const d = new Date(base + off);
          if (isoTime(d) !== d.toISOString()) return false;
        }
      }
      return true;
    }),
    { numRuns: 3000 },
  );
  for (const ms of [0, -1, 999, 1000, -1000, -1001, MAX, -MAX, Date.UTC(2026, 10, 27, 9, 59, 59, 999), Date.UTC(2026, 10, 27, 10, 0, 0, 5)]) {
    t.equal(isoTime(new Date(ms)), new Date(ms).toISOString(), String(ms));
  }
  t.throws(() => isoTime(new Date(NaN)), RangeError);
});
