/**
 * Micro-measurement (issue 15): the abort plumbing of one forwarded request, in isolation.
 * Before: the exchange's AbortController, the forwarder's own (listening to the first, its listener
 * removed at the response's close), and the upstream client's listener on the forwarder's signal.
 * One controller: the exchange's AbortController only; the upstream client listens to it directly, and
 * the forwarder aborts it (`releaseUpstream()`) when a limit or a shutdown ends the request.
 * After: the same with the exchange's `Release` (net/release.ts) instead of an AbortController.
 * Run: npx tsx bench/micro-abort.ts — ns/op, medians of 7 rounds, every variant in the same run.
 */
import { Release } from '../src/net/release.js';
import { printNsPerOp, timeVariants } from './micro.js';

/** The upstream client's listener (the HTTP/2 pool registers an object with handleEvent). */
const upstreamListener = { handleEvent() {} };

const variants: Record<string, () => number> = {
  'before: two AbortControllers, two listeners': () => {
    const exchange = new AbortController();
    const forwarder = new AbortController();
    const release = () => forwarder.abort();
    exchange.signal.addEventListener('abort', release, { once: true });
    forwarder.signal.addEventListener('abort', upstreamListener);
    // the stream closed, the response closed
    forwarder.signal.removeEventListener('abort', upstreamListener);
    exchange.signal.removeEventListener('abort', release);
    return exchange.signal.aborted ? 0 : 1;
  },
  'one AbortController, one listener': () => {
    const exchange = new AbortController();
    exchange.signal.addEventListener('abort', upstreamListener);
    exchange.signal.removeEventListener('abort', upstreamListener);
    return exchange.signal.aborted ? 0 : 1;
  },
  'after: one Release, one listener': () => {
    const exchange = new Release();
    exchange.addEventListener('abort', upstreamListener);
    exchange.removeEventListener('abort', upstreamListener);
    return exchange.aborted ? 0 : 1;
  },
};

printNsPerOp(timeVariants(variants, 100_000), true);
