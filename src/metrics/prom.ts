/**
 * The prom-client classes kubegate uses, required from the files that define them.
 *
 * prom-client's main entry also loads its default process metrics (which kubegate does not register) and,
 * through them, @opentelemetry/api, plus the Pushgateway and Summary: about 7 MB of resident memory at
 * start-up for nothing kubegate serves. The package has no `exports` map, so these paths are allowed, and
 * Node loads each file once: the classes are the very objects `require('prom-client')` exports
 * (test/metrics/prom.test.ts checks that), so code using the main entry shares them. If a future
 * prom-client moves a file, the require below fails at start-up naming the path.
 */
import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';

const require = createRequire(import.meta.url);

export const Registry = require('prom-client/lib/registry') as typeof PromClient.Registry;
export type Registry = PromClient.Registry;
export const Counter = require('prom-client/lib/counter') as typeof PromClient.Counter;
export type Counter<T extends string = string> = PromClient.Counter<T>;
export const Gauge = require('prom-client/lib/gauge') as typeof PromClient.Gauge;
export type Gauge<T extends string = string> = PromClient.Gauge<T>;
export const Histogram = require('prom-client/lib/histogram') as typeof PromClient.Histogram;
export type Histogram<T extends string = string> = PromClient.Histogram<T>;
/** The cluster registry (`--workers`): collects every worker's metrics over IPC. */
export const AggregatorRegistry = require('prom-client/lib/cluster') as typeof PromClient.AggregatorRegistry;
export type AggregatorRegistry<T extends PromClient.RegistryContentType = PromClient.PrometheusContentType> = PromClient.AggregatorRegistry<T>;
