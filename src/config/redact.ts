/** The configuration as it may be logged or printed: any value under a key naming a secret is replaced. */
const SECRET_KEY = /secret|password|token|privatekey(?!file)|cookiekey(?!file)/i;

export function redactConfig(value: unknown, key = ''): unknown {
  if (SECRET_KEY.test(key) && !/file$/i.test(key) && value !== undefined && typeof value !== 'object') return '[redacted]';
  if (Array.isArray(value)) return value.map((v) => redactConfig(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, redactConfig(v, k)]));
  return value;
}
