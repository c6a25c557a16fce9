/**
 * Captured bodies as `requestObject`/`responseObject`: parsed JSON, with everything secret taken out.
 *
 * Never recorded: the `data` and `stringData` of a Secret (and kubectl's last-applied-configuration
 * annotation, which repeats them) wherever a Secret appears (a single object, a SecretList, any List's
 * items, a watch event's object), the token of a TokenReview (`spec.token`, `status`) and of a
 * TokenRequest (`status.token`). A body sent to or from the secrets resource that is not a Secret,
 * SecretList, WatchEvent, Status or DeleteOptions (a patch, a Table) is not recorded at all: kubegate cannot tell
 * which of its parts are secret. Bodies that are not identity-encoded JSON are not recorded either.
 * Each omission is explained by the returned note (an annotation on the record).
 */

export interface ObjectRefLike {
  resource?: string | undefined;
  subresource?: string | undefined;
  apiGroup?: string | undefined;
}

export const REDACTED = '[redacted by kubegate]';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const SAFE_KINDS_FOR_SECRETS = new Set(['Secret', 'SecretList', 'Status', 'DeleteOptions', 'WatchEvent']);

export interface RecordedObject {
  object?: unknown;
  /** Why there is no object, when there is none. */
  note?: string;
}

export function recordedObject(bytes: Buffer, contentType: string | undefined, contentEncoding: string | undefined, ref: ObjectRefLike | undefined, omitManagedFields: boolean): RecordedObject {
  if (bytes.length === 0) return {};
  if (contentEncoding !== undefined && contentEncoding.toLowerCase() !== 'identity') return { note: `not recorded: ${contentEncoding}-encoded body` };
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== '' && !/^application\/([a-z0-9.+-]*\+)?json$/.test(type)) return { note: `not recorded: ${type} body (only JSON is recorded)` };
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    return { note: 'not recorded: the body is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null) return { note: 'not recorded: the body is not a JSON object' };
  const group = ref?.apiGroup ?? '';
  if (group === '' && ref?.resource === 'secrets') {
    const kind = (value as { kind?: unknown }).kind;
    if (Array.isArray(value) || typeof kind !== 'string' || !SAFE_KINDS_FOR_SECRETS.has(kind)) {
      return { note: 'not recorded: a body of the secrets resource that is not a Secret (its secret parts cannot be told apart)' };
    }
  }
  const clean = redact(value, ref, kindHint(ref));
  if (omitManagedFields) dropManagedFields(clean);
  return { object: clean };
}

/** The kind a kind-less object under this resource has (items of a list). */
function kindHint(ref: ObjectRefLike | undefined): string | undefined {
  if (ref?.apiGroup === '' && ref.resource === 'secrets') return 'Secret';
  return undefined;
}

/** A deep copy with every secret value replaced. */
export function redact(value: unknown, ref?: ObjectRefLike, kindOfItems?: string): unknown {
  if (Array.isArray(value)) return value.map((v) => redact(v, ref, kindOfItems));
  if (typeof value !== 'object' || value === null) return value;
  const obj = value as Record<string, unknown>;
  const kind = typeof obj.kind === 'string' ? obj.kind : kindOfItems;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(obj)) {
    if (key === 'items' && Array.isArray(v)) {
      out[key] = v.map((item) => redact(item, ref, kind?.endsWith('List') ? kind.slice(0, -4) : undefined));
    } else if (key === 'object' && (obj.type !== undefined || kind === 'WatchEvent')) {
      out[key] = redact(v, ref, kindHint(ref)); // a watch event's object
    } else {
      out[key] = redact(v, ref);
    }
  }
  if (kind === 'Secret') {
    for (const key of ['data', 'stringData']) {
      const d = out[key];
      if (d && typeof d === 'object') out[key] = Object.fromEntries(Object.keys(d).map((k) => [k, REDACTED]));
      else if (d !== undefined) out[key] = REDACTED;
    }
    const annotations = (out.metadata as { annotations?: Record<string, unknown> } | undefined)?.annotations;
    if (annotations && LAST_APPLIED in annotations) annotations[LAST_APPLIED] = REDACTED;
  }
  if (kind === 'TokenReview') {
    const spec = out.spec as Record<string, unknown> | undefined;
    if (spec && 'token' in spec) spec.token = REDACTED;
  }
  if (kind === 'TokenRequest' || (ref?.resource === 'serviceaccounts' && ref.subresource === 'token')) {
    const status = out.status as Record<string, unknown> | undefined;
    if (status && 'token' in status) status.token = REDACTED;
  }
  return out;
}

function dropManagedFields(value: unknown): void {
  if (Array.isArray(value)) return value.forEach(dropManagedFields);
  if (typeof value !== 'object' || value === null) return;
  const obj = value as Record<string, unknown>;
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (meta && typeof meta === 'object') delete meta.managedFields;
  if (Array.isArray(obj.items)) obj.items.forEach(dropManagedFields);
  if (obj.object) dropManagedFields(obj.object);
}
