import t from 'tap';
import { createFailureLimiter } from '../../src/guard/failure-limiter.js';

t.test('a key is throttled after burst failures and regains one failure per 60/perMinute seconds', async (t) => {
  let now = 1_000_000;
  const l = createFailureLimiter({ perMinute: 20, burst: 10, maxKeys: 100, now: () => now });
  for (let i = 0; i < 10; i++) {
    t.same(l.check('a'), { throttled: false }, `failure ${i + 1} allowed`);
    l.fail('a');
  }
  const v = l.check('a');
  t.equal(v.throttled, true);
  t.equal(v.throttled && v.retryAfterSeconds, 3, 'one failure back after 3 s at 20/min');
  t.same(l.check('b'), { throttled: false }, 'another key is unaffected');
  now += 2_999;
  t.equal(l.check('a').throttled, true);
  now += 1;
  t.same(l.check('a'), { throttled: false }, 'refilled one');
  l.fail('a');
  t.equal(l.check('a').throttled, true, 'and spent again');
});

t.test('keys that never failed are not tracked; refilled keys are dropped', async (t) => {
  let now = 0;
  const l = createFailureLimiter({ perMinute: 60, burst: 2, maxKeys: 100, now: () => now });
  l.check('x');
  t.equal(l.size(), 0);
  l.fail('x');
  t.equal(l.size(), 1);
  now += 1_000;
  l.check('x');
  t.equal(l.size(), 0, 'a full bucket is forgotten');
});

t.test('memory is bounded: a flood of keys evicts the least recently failed', async (t) => {
  const now = 0;
  const l = createFailureLimiter({ perMinute: 1, burst: 1, maxKeys: 1000, now: () => now });
  l.fail('victim-watch');
  for (let i = 0; i < 100_000; i++) l.fail(`flood-${i}`);
  t.equal(l.size(), 1000, 'never more than maxKeys');
  t.equal(l.check('flood-99999').throttled, true, 'the newest are kept');
  t.same(l.check('victim-watch'), { throttled: false }, 'the oldest was forgotten (starts full again)');
});

t.test('bad settings are a caller error', async (t) => {
  t.throws(() => createFailureLimiter({ perMinute: 0, burst: 1, maxKeys: 1 }), TypeError);
});
