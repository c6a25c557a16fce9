/**
 * Condition waits with a failure cap and nothing else imported, for unit-level tests that must not load
 * the server (own-kubegate.ts's `eventually` and streaming.ts's `within` behave the same way). A cap only
 * turns a hang into a failure; nothing passes by waiting.
 */

/**
 * Reject with a clear message if `promise` has not settled within `capMs`. `what` may be a function, read
 * when the cap is reached (e.g. to quote a log as it is then, not as it was when the wait began).
 */
export function within<T>(promise: Promise<T>, capMs: number, what: string | (() => string)): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const cap = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${capMs} ms waiting for ${typeof what === 'string' ? what : what()}`)), capMs);
  });
  return Promise.race([promise, cap]).finally(() => clearTimeout(timer));
}

/** Poll `check` until it returns a value other than undefined, or fail after `capMs`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined> | T | undefined, capMs: number, stepMs = 20): Promise<T> {
  const deadline = Date.now() + capMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${capMs} ms waiting for ${what}${lastError ? ` (last error: ${(lastError as Error).message})` : ''}`);
    }
    await sleep(stepMs);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
