/**
 * Micro-measurement (issue 15): two small per-request costs in the auth guard and the audit trail.
 * - the failure limiter's address key, computed for every request though only a failure needs it;
 * - a prom-client labelled counter incremented with a label object (hashed per call) vs a child bound once.
 * Run: npx tsx bench/micro-guard-metrics.ts — ns/op, medians of 7 rounds, same run.
 */
import { Counter, Registry } from 'prom-client';
import { addressKey } from '../src/guard/client-address.js';
import { printNsPerOp, timeVariants } from './micro.js';

const registers = [new Registry()];
const counter = new Counter({ name: 'x_total', help: 'x', labelNames: ['result'], registers });
const bound = counter.labels({ result: 'written' });
const variants: Record<string, () => number> = {
  'addressKey(IPv4) per request': () => `addr ${addressKey('10.1.2.3')}`.length,
  'addressKey(IPv6) per request': () => `addr ${addressKey('2001:db8:0:0:1:2:3:4')}`.length,
  'counter.inc({ result }) (label object per call)': () => (counter.inc({ result: 'written' }), 1),
  'child bound once: child.inc()': () => (bound.inc(), 1),
};
printNsPerOp(timeVariants(variants, 200_000));
