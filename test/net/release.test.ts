/**
 * The request's release signal (net/release.ts) stands in for an AbortSignal on every request: the
 * upstream clients must see it behave as one. A model check against the real thing: random sequences of
 * adding (functions and handleEvent objects, some twice), removing and aborting, applied to a `Release`
 * and to an `AbortController`'s signal, must call the same listeners in the same order, and report the
 * same `aborted` and the same kind of `reason` at every point (inside the listeners too).
 */
import t from 'tap';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
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

t.test('listeners run as an EventTarget runs them: `this`, and a throwing one', async (t) => {
  const release = new Release();
  let self: unknown;
  release.addEventListener('abort', function (this: unknown) {
    self = this;
  });
  release.abort();
  t.equal(self, release, 'a function listener runs with the signal as this');

  // A throwing listener: the others still run, and its error is an uncaught exception on the next tick
  // (as with an AbortSignal). Run apart, where an uncaught exception may end the process.
  const script = `
    import { Release } from ${JSON.stringify(new URL('../../src/net/release.ts', import.meta.url).href)};
    const r = new Release();
    const ran = [];
    r.addEventListener('abort', () => { ran.push('first'); throw new Error('listener failed'); });
    r.addEventListener('abort', () => ran.push('second'));
    process.on('uncaughtException', (err) => { console.log(JSON.stringify({ ran, error: err.message, aborted: r.aborted })); });
    r.abort();
    ran.push('after abort');
  `;
  const out = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('../..', import.meta.url).pathname });
  t.equal(out.status, 0, out.stderr);
  t.strictSame(JSON.parse(out.stdout.trim()), { ran: ['first', 'second', 'after abort'], error: 'listener failed', aborted: true });
});
