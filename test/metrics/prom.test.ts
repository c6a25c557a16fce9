/**
 * kubegate takes prom-client's classes from the files that define them (src/metrics/prom.ts), so that its
 * default process metrics and @opentelemetry/api stay unloaded. They must be the very classes the package's
 * main entry exports (a registry from one must aggregate with the other), and a kubegate registry must
 * still serve the usual text format.
 */
import { createRequire } from 'node:module';
import t from 'tap';
import { AggregatorRegistry, Counter, Gauge, Histogram, Registry } from '../../src/metrics/prom.js';
import { createMetrics } from '../../src/metrics/metrics.js';

const require = createRequire(import.meta.url);
const loaded = (part: string) => Object.keys(require.cache).some((file) => file.includes(part));

t.test('building kubegate metrics loads neither the default metrics nor @opentelemetry/api', async (t) => {
  const metrics = createMetrics();
  metrics.requests.inc({ verb: 'get', resource: 'pods', code: '200', outcome: 'completed' });
  const text = await metrics.registry.metrics();
  t.match(text, /^kubegate_requests_total\{verb="get",resource="pods",code="200",outcome="completed"\} 1$/m, 'the registry serves the text format');
  t.ok(loaded('/prom-client/lib/counter'), 'prom-client files show in the module cache');
  t.notOk(loaded('/prom-client/lib/defaultMetrics'), 'prom-client default metrics not loaded');
  t.notOk(loaded('/@opentelemetry/api/'), '@opentelemetry/api not loaded');
});

t.test('the classes are the ones prom-client exports', async (t) => {
  const main = require('prom-client') as typeof import('prom-client');
  t.equal(Registry, main.Registry);
  t.equal(Counter, main.Counter);
  t.equal(Gauge, main.Gauge);
  t.equal(Histogram, main.Histogram);
  t.equal(AggregatorRegistry, main.AggregatorRegistry);
});
