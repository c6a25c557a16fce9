/**
 * The stores' shared local view (src/elevation/local-view.ts): events arrive from two sides (an own
 * write's response and the watch) in any order; an older version must never replace a newer one, and a
 * late copy must not bring back a deleted grant.
 */
import t from 'tap';
import { compareResourceVersions, createLocalView } from '../../src/elevation/local-view.js';
import type { Elevation, ElevationEvent } from '../../src/elevation/types.js';
import { silentLogger } from '../../src/log/logger.js';
import { sample } from './store-contract.js';

const at = (e: Elevation, resourceVersion: string, more: Partial<Elevation> = {}): Elevation => ({ ...e, ...more, resourceVersion });

function viewWithLog() {
  const view = createLocalView(silentLogger(), 'test');
  const events: string[] = [];
  view.onChange((e: ElevationEvent) => events.push(e.type === 'delete' ? `delete ${e.id}` : `upsert ${e.elevation.id}@${e.elevation.resourceVersion}`));
  return { view, events };
}

t.test('compareResourceVersions follows KEP-5504: positive integers without leading zeros', async (t) => {
  t.equal(compareResourceVersions('9', '10')! < 0, true, 'numeric, not lexical');
  t.equal(compareResourceVersions('123', '123'), 0);
  t.equal(compareResourceVersions('100000000000000000001', '100000000000000000000')! > 0, true, 'beyond 2^53');
  for (const bad of ['', '0', '007', 'abc', '1.5', '-1', undefined]) t.equal(compareResourceVersions(bad, '5'), undefined, `${JSON.stringify(bad)} does not compare`);
});

t.test('an older version never replaces a newer one', async (t) => {
  const { view, events } = viewWithLog();
  const e = sample({ id: 'elev-a' });
  t.equal(view.upsert(at(e, '12', { phase: 'Revoked' })), true, 'own write (revoked) applied');
  t.equal(view.upsert(at(e, '11', { phase: 'Active' })), false, 'the watch\'s older event is ignored');
  t.equal(view.get('elev-a')!.phase, 'Revoked');
  t.equal(view.upsert(at(e, '12', { phase: 'Revoked' })), false, 'the same version again: no event');
  t.equal(view.upsert(at(e, '13', { phase: 'Revoked', reason: 'newer' })), true);
  t.same(events, ['upsert elev-a@12', 'upsert elev-a@13']);
});

t.test('versions that do not compare are applied in arrival order', async (t) => {
  const { view } = viewWithLog();
  const e = sample({ id: 'elev-b' });
  view.upsert(at(e, 'b', { phase: 'Active' }));
  t.equal(view.upsert(at(e, 'a', { phase: 'Revoked' })), true);
  t.equal(view.get('elev-b')!.phase, 'Revoked');
});

t.test('a deletion leaves a tombstone: a late, older copy does not resurrect the grant', async (t) => {
  const { view, events } = viewWithLog();
  const e = sample({ id: 'elev-c' });
  view.upsert(at(e, '5'));
  t.equal(view.remove('elev-c', '7'), true);
  t.equal(view.upsert(at(e, '6', { phase: 'Active' })), false, 'a late copy older than the deletion is ignored');
  t.notOk(view.get('elev-c'));
  t.equal(view.upsert(at(e, '8')), true, 'a re-creation after the deletion is applied');
  t.equal(view.remove('elev-c', '6'), false, 'a deletion older than what is held is ignored');
  t.same(events, ['upsert elev-c@5', 'delete elev-c', 'upsert elev-c@8']);
});

t.test('a relist replaces the view, keeping entries newer than the listing', async (t) => {
  const { view, events } = viewWithLog();
  const [x, y, z] = [sample({ id: 'elev-x' }), sample({ id: 'elev-y' }), sample({ id: 'elev-z' })];
  view.upsert(at(x, '3'));
  view.upsert(at(y, '4'));
  view.upsert(at(z, '20')); // an own create that landed after the list below was served
  events.length = 0;
  view.reset([at(x, '9', { phase: 'Active' })], { listResourceVersion: '10' });
  t.same(view.snapshot().map((e) => `${e.id}@${e.resourceVersion}`).sort(), ['elev-x@9', 'elev-z@20']);
  t.same(events, ['delete elev-y', 'upsert elev-x@9'], 'missing from the listing: deleted; changed: upserted');
});

t.test('an authoritative reset (the file store) is the truth, even with older versions', async (t) => {
  const { view } = viewWithLog();
  const x = sample({ id: 'elev-x' });
  view.upsert(at(x, '9', { phase: 'Revoked' }));
  view.reset([at(x, '3', { phase: 'Active' })], { authoritative: true }); // a restored backup
  t.equal(view.get('elev-x')!.phase, 'Active');
  view.reset([], { authoritative: true });
  t.same(view.snapshot(), []);
});
