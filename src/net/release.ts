/**
 * A request's release signal: what the upstream clients listen to so they can let go of an upstream
 * request at once (the client went away, a limit or a shutdown ended the request). It is the part of
 * `AbortSignal` they use, so a real `AbortSignal` fits wherever a {@link ReleaseSignal} is asked for.
 *
 * {@link Release} is the one the request's exchange makes, one per request. It exists because an
 * `AbortSignal` is an `EventTarget`: on Node 20 making one costs 3–5 µs and each listener a few more
 * (bench/micro-abort.ts), on every request, for a signal that almost never fires. It keeps the semantics
 * the upstream clients rely on: `aborted` and `reason` are set before any listener runs; every listener
 * runs once, in the order added; the same listener added twice runs once; a listener added after the
 * abort never runs; a listener that throws does not stop the others, and its error is thrown on the next
 * tick (an uncaught exception, as an `EventTarget` listener's is).
 */

/** A function, or an object with `handleEvent` (as `EventTarget` accepts). */
export type ReleaseListener = ((this: unknown) => void) | { handleEvent(): void };

export interface ReleaseSignal {
  readonly aborted: boolean;
  /** Why it was aborted (an `AbortError` DOMException, as `AbortController.abort()` gives); undefined until then. */
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: ReleaseListener, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: ReleaseListener): void;
}

export class Release implements ReleaseSignal {
  aborted = false;
  reason: unknown = undefined;
  /** Most requests have one listener (the upstream client's): kept without an array until a second. */
  private listeners: ReleaseListener | ReleaseListener[] | undefined = undefined;

  addEventListener(_type: 'abort', listener: ReleaseListener): void {
    if (this.aborted) return;
    const ls = this.listeners;
    if (ls === undefined) this.listeners = listener;
    else if (Array.isArray(ls)) {
      if (!ls.includes(listener)) ls.push(listener);
    } else if (ls !== listener) this.listeners = [ls, listener];
  }

  removeEventListener(_type: 'abort', listener: ReleaseListener): void {
    const ls = this.listeners;
    if (ls === listener) this.listeners = undefined;
    else if (Array.isArray(ls)) {
      const i = ls.indexOf(listener);
      if (i >= 0) ls.splice(i, 1);
    }
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = new DOMException('This operation was aborted', 'AbortError');
    const ls = this.listeners;
    this.listeners = undefined;
    if (ls === undefined) return;
    if (Array.isArray(ls)) for (const l of ls) call(this, l);
    else call(this, ls);
  }
}

/** As an EventTarget calls a listener: a function with the signal as `this`, an object's `handleEvent` on the object. */
function call(signal: Release, listener: ReleaseListener): void {
  try {
    if (typeof listener === 'function') listener.call(signal);
    else listener.handleEvent();
  } catch (err) {
    process.nextTick(() => {
      throw err;
    });
  }
}
