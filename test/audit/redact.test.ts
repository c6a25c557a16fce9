/**
 * recordedObject: bodies as JSON objects with every secret value taken out, whatever shape the Secret
 * comes in; bodies kubegate cannot judge are not recorded, and the note says why.
 */
import t from 'tap';
import { recordedObject, REDACTED } from '../../src/audit/redact.js';

const VALUE = 'c3VwZXItc2VjcmV0'; // base64 of "super-secret"
const core = (resource: string, subresource?: string) => ({ apiGroup: '', resource, subresource });
const rec = (body: unknown, ref = core('secrets'), type = 'application/json', omitManagedFields = false) => recordedObject(Buffer.from(JSON.stringify(body)), type, undefined, ref, omitManagedFields);

t.test('Secrets in every shape', async (t) => {
  const cases: [string, unknown, ReturnType<typeof core>][] = [
    ['a Secret', { kind: 'Secret', apiVersion: 'v1', metadata: { name: 'a', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': `{"data":{"k":"${VALUE}"}}` } }, data: { k: VALUE }, stringData: { s: 'super-secret' } }, core('secrets')],
    ['a SecretList (items without kind)', { kind: 'SecretList', apiVersion: 'v1', items: [{ metadata: { name: 'a' }, data: { k: VALUE } }] }, core('secrets')],
    ['a List holding a Secret', { kind: 'List', apiVersion: 'v1', items: [{ kind: 'ConfigMap', data: { plain: 'visible' } }, { kind: 'Secret', data: { k: VALUE } }] }, core('configmaps')],
    ['a watch event', { type: 'ADDED', object: { kind: 'Secret', data: { k: VALUE } } }, core('configmaps')],
    ['a watch event of the secrets resource, object without kind', { kind: 'WatchEvent', type: 'MODIFIED', object: { data: { k: VALUE } } }, core('secrets')],
    ['a TokenReview', { kind: 'TokenReview', apiVersion: 'authentication.k8s.io/v1', spec: { token: VALUE }, status: { authenticated: true } }, { apiGroup: 'authentication.k8s.io', resource: 'tokenreviews', subresource: undefined }],
    ['a TokenRequest', { kind: 'TokenRequest', apiVersion: 'authentication.k8s.io/v1', status: { token: VALUE } }, core('serviceaccounts', 'token')],
  ];
  for (const [name, body, ref] of cases) {
    const r = rec(body, ref);
    t.ok(r.object, `${name}: recorded`);
    t.notOk(JSON.stringify(r.object).includes(VALUE) || JSON.stringify(r.object).includes('super-secret'), `${name}: no secret value`);
  }
  t.match(rec(cases[2]![1], core('configmaps')).object, { items: [{ data: { plain: 'visible' } }, { data: { k: REDACTED } }] }, 'other objects in a list are kept as they are');
});

t.test('bodies kubegate cannot judge are not recorded, with the reason', async (t) => {
  t.match(rec({ data: { k: VALUE } }), { note: /secrets resource that is not a Secret/ }, 'a merge patch of a Secret');
  t.match(rec([{ op: 'add', path: '/data/k', value: VALUE }]), { note: /secrets resource/ }, 'a JSON patch of a Secret');
  t.match(rec({ kind: 'Table', rows: [{ cells: [VALUE] }] }), { note: /secrets resource/ }, 'a Table of Secrets');
  t.match(recordedObject(Buffer.from('k8s\0…'), 'application/vnd.kubernetes.protobuf', undefined, core('secrets'), false), { note: /protobuf body/ });
  t.match(recordedObject(Buffer.from('apiVersion: v1'), 'application/apply-patch+yaml', undefined, core('configmaps'), false), { note: /apply-patch\+yaml body/ });
  t.match(recordedObject(Buffer.from([0x1f, 0x8b]), 'application/json', 'gzip', core('configmaps'), false), { note: /gzip-encoded/ });
  t.match(recordedObject(Buffer.from('{not json'), 'application/json', undefined, core('configmaps'), false), { note: /not valid JSON/ });
  t.same(recordedObject(Buffer.alloc(0), 'application/json', undefined, core('configmaps'), false), {}, 'no body: nothing, no note');
});

t.test('merge-patch JSON is recorded; omitManagedFields drops managedFields', async (t) => {
  t.same(rec({ data: { a: '1' } }, core('configmaps'), 'application/merge-patch+json').object, { data: { a: '1' } });
  const r = rec({ kind: 'ConfigMapList', items: [{ metadata: { name: 'a', managedFields: [{ manager: 'kubectl' }] } }], metadata: {} }, core('configmaps'), 'application/json', true);
  t.same(r.object, { kind: 'ConfigMapList', items: [{ metadata: { name: 'a' } }], metadata: {} });
});
