/**
 * The request's release signal (net/release.ts) stands in for an AbortSignal on every request: the
 * upstream clients must see it behave as one. A model check against the real thing: random sequences of
 * adding (functions and handleEvent objects, some twice), removing and aborting, applied to a `Release`
 * and to an `AbortController`'s signal, must call the same listeners in the same order, and report the
 * same `aborted` and the same kind of `reason` at every point (inside the listeners too).
 */
import t from 'tap';
import fc from 'fast-check';
import { Release, type ReleaseListener, type ReleaseSignal } from '../../src/net/release.js';

type Op = { op: 'add'; id: number; object: boolean } | { op: 'remove'; id: number; object: boolean } | { op: 'abort' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('add' as const), id: fc.integer({ min: 0, max: 4 }), object: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('remove' as const), id: fc.integer({ min: 0, max: 4 }), object: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ op: 'abort' as const }) },
);

/** Run the ops on one signal; return what happened, in order. */
function run(ops: Op[], signal: ReleaseSignal, abort: () => void): string[] {
  const log: string[] = [];
  const listeners = new Map<string, ReleaseListener>();
  const listener = (id: number, object: boolean): ReleaseListener => {
    const key = `${object ? 'o' : 'f'}${id}`;
    let l = listeners.get(key);
    if (l === undefined) {
      const fire = () => log.push(`${key} aborted=${signal.aborted} reason=${(signal.reason as Error | undefined)?.name}`);
      l = object ? { handleEvent: fire } : fire;
      listeners.set(key, l);
    }
    return l;
  };
  for (const o of ops) {
    if (o.op === 'add') signal.addEventListener('abort', listener(o.id, o.object));
    else if (o.op === 'remove') signal.removeEventListener('abort', listener(o.id, o.object));
    else abort();
    log.push(`${o.op} aborted=${signal.aborted} reason=${(signal.reason as Error | undefined)?.name}`);
  }
  return log;
}

t.test('a Release calls the listeners an AbortSignal would, in the same order', async (t) => {
  fc.assert(
    fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
      const release = new Release();
      const controller = new AbortController();
      t.strictSame(run(ops, release, () => release.abort()), run(ops, controller.signal, () => controller.abort()));
    }),
    { numRuns: 2000 },
  );
});

t.test('an AbortSignal is a ReleaseSignal, and a Release aborts once', async (t) => {
  const asRelease: ReleaseSignal = new AbortController().signal;
  t.equal(asRelease.aborted, false);
  const release = new Release();
  let calls = 0;
  release.addEventListener('abort', () => calls++);
  release.abort();
  const reason = release.reason;
  release.abort();
  t.equal(calls, 1, 'a second abort calls nobody');
  t.equal(release.reason, reason, 'and keeps the first reason');
  t.equal((reason as DOMException).name, 'AbortError');
});
