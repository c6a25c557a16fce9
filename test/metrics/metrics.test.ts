/**
 * /metrics after a known set of requests through the real listener: exact counter values, the
 * authentication failures by reason, the token cache, the upstream latency histogram, in-flight
 * requests back at zero; and only on the metrics listener, never on the user-facing one.
 */
import t from 'tap';
import { startHarness } from '../support/harness.js';
import { scrape, value } from '../support/metrics.js';

t.test('metrics after a known set of requests', async (t) => {
  const h = await startHarness();
  t.teardown(() => h.close());
  t.ok(h.kubegate.metricsUrl, 'a metrics listener was started');
  const token = await h.issuer.mintIdToken({ sub: 'm', claims: { email: 'metrics@example.com', email_verified: true } });
  const auth: [string, string][] = [['Authorization', `Bearer ${token}`]];
  for (let i = 0; i < 3; i++) t.equal((await h.send('/version', { headers: auth })).status, 200);
  for (let i = 0; i < 2; i++) t.equal((await h.send('/api/v1/namespaces/default/pods', { headers: auth })).status, 200);
  t.equal((await h.send('/api/v1/namespaces/default/pods')).status, 401);
  t.equal((await h.send('/api/v1/namespaces/default/pods', { headers: [['Authorization', 'Bearer not-a-jwt']] })).status, 401);
  t.equal((await h.send('/metrics', { headers: auth })).status, 404, 'the user-facing listener does not serve metrics (forwarded: the fake has no such route)');

  const text = await scrape(h.kubegate.metricsUrl!);
  t.equal(value(text, 'kubegate_requests_total{verb="get",resource="",code="200",outcome="completed"}'), 3, '3 × GET /version (non-resource)');
  t.equal(value(text, 'kubegate_requests_total{verb="list",resource="pods",code="200",outcome="completed"}'), 2, '2 × list pods');
  t.equal(value(text, 'kubegate_requests_total{verb="list",resource="pods",code="401",outcome="refused"}'), 2, '2 refused');
  t.equal(value(text, 'kubegate_authentication_failures_total{reason="AUTHN_MISSING_TOKEN"}'), 1);
  t.equal(value(text, 'kubegate_authentication_failures_total{reason="AUTHN_INVALID_TOKEN"}'), 1);
  t.equal(value(text, 'kubegate_token_cache_lookups_total{result="miss"}'), 1, 'one verification…');
  t.equal(value(text, 'kubegate_token_cache_lookups_total{result="hit"}'), 5, '…then the cache (the /metrics request included)');
  t.equal(value(text, 'kubegate_upstream_request_duration_seconds_count{verb="get"}'), 4, 'upstream latency observed per forwarded request (3 × /version, 1 × /metrics)');
  t.equal(value(text, 'kubegate_upstream_request_duration_seconds_count{verb="list"}'), 2);
  t.equal(value(text, 'kubegate_inflight_requests{kind="ordinary"}'), 0, 'nothing left in flight');
  t.equal(value(text, 'kubegate_audit_records_total{result="written"}'), 8);
  t.equal(value(text, 'kubegate_jwks_fetches_total{result="ok"}'), 1);
  t.equal(value(text, 'kubegate_elevation_active_grants'), 0);
  t.match(text, /kubegate_build_info\{version="\d+\.\d+\.\d+",node="v\d+/);
});
