/**
 * Body capture for the Request and RequestResponse levels: a tap on a stream that is already flowing to
 * its destination. It only listens to the chunks as they pass (no buffering in the path, no delay, the
 * pipe's backpressure untouched) and keeps a copy up to a size limit; past the limit it lets go of what
 * it kept and only remembers that the body was too large.
 */
import type { Readable } from 'node:stream';
import type { CapturedBody } from '../request/audit-types.js';

export type { CapturedBody };

export interface BodyTap {
  /** What was captured so far. */
  result(): CapturedBody;
}

export function tapBody(stream: Readable, limit: number, headers: { 'content-type'?: string | string[] | undefined; 'content-encoding'?: string | string[] | undefined }): BodyTap {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  let complete = false;
  const onData = (chunk: Buffer | string) => {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buf.length;
    if (size > limit) {
      truncated = true;
      chunks.length = 0;
      stream.off('data', onData);
      return;
    }
    chunks.push(buf);
  };
  stream.on('data', onData);
  stream.once('end', () => (complete = true));
  const header = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
  return {
    result: () => ({
      bytes: truncated || !complete ? undefined : Buffer.concat(chunks),
      truncated,
      complete: complete || truncated,
      contentType: header(headers['content-type']),
      contentEncoding: header(headers['content-encoding']),
    }),
  };
}
