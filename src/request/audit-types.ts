/**
 * The audit vocabulary the request lifecycle needs (request/exchange.ts), kept below every stage so the
 * exchange can speak of levels, stages and captured bodies without importing audit/ (which sits above).
 */

export const LEVELS = ['None', 'Metadata', 'Request', 'RequestResponse'] as const;
/** audit.k8s.io/v1 Level. */
export type Level = (typeof LEVELS)[number];
export const STAGES = ['RequestReceived', 'ResponseStarted', 'ResponseComplete', 'Panic'] as const;
/** audit.k8s.io/v1 Stage. */
export type Stage = (typeof STAGES)[number];

/** The audit policy's answer for one request. */
export interface AuditDecision {
  level: Level;
  omitStages: readonly Stage[];
  omitManagedFields: boolean;
}

/** A request or response body seen by a tap (audit/capture.ts). */
export interface CapturedBody {
  /** The bytes, when the whole body was seen and fits the limit. */
  bytes: Buffer | undefined;
  /** Larger than the limit: not kept. */
  truncated: boolean;
  /** The stream ended (false: the request or response was cut off). */
  complete: boolean;
  contentType: string | undefined;
  contentEncoding: string | undefined;
}
