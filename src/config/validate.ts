import type { z } from 'zod';
import { KubegateError } from '../errors/errors.js';
import { configSchema, type Config } from './schema.js';
import { flagForPath } from './flags.js';

export type ValidationResult = { ok: true; config: Readonly<Config> } | { ok: false; issues: string[] };

/**
 * Validate raw configuration (from YAML, env and flags merged). Pure: it opens no file and makes no
 * request. Returns a deeply frozen config, or every problem found, each as
 * `path (--flag): message`.
 */
export function validateConfig(raw: unknown): ValidationResult {
  const parsed = configSchema.safeParse(raw);
  if (parsed.success) return { ok: true, config: deepFreeze(parsed.data) };
  return { ok: false, issues: parsed.error.issues.map(describeIssue) };
}

/** Like {@link validateConfig} but throws CONFIG_INVALID listing every issue. */
export function validateConfigOrThrow(raw: unknown): Readonly<Config> {
  const result = validateConfig(raw);
  if (result.ok) return result.config;
  throw configError(result.issues);
}

export function configError(issues: string[]): KubegateError {
  return new KubegateError('CONFIG_INVALID', `invalid configuration:\n  - ${issues.join('\n  - ')}`, {
    details: { issues: issues.length },
  });
}

function describeIssue(issue: z.core.$ZodIssue): string {
  const segments = issue.path.map(String);
  let path = segments.join('.');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => (path ? `${path}.${k}` : k));
    return `${keys.join(', ')}: unknown setting${keys.length > 1 ? 's' : ''}`;
  }
  if (issue.code === 'invalid_type' && /received undefined/.test(message)) message = 'is required';
  // An element of a list or record setting (oidc.signingAlgs.0) is set by the setting's flag.
  let flag: string | undefined;
  for (let n = segments.length; n > 0 && flag === undefined; n--) flag = flagForPath(segments.slice(0, n).join('.'));
  if (!path) path = '(root)';
  return `${path}${flag ? ` (${flag})` : ''}: ${message}`;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
