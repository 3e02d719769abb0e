// Drives example/beast_microservice, then scrapes its GET /metrics and checks
// every counter against GET /stats (the service's own totals), the latency
// histograms' counts, and that no secret, token or client id is in the text.
//
//   node prometheus_scrape.mjs FRONT_URL ALICE_JWT JOB_JWT
// (NODE_EXTRA_CA_CERTS must trust the example's certificate.)
const [front, alice, job] = process.argv.slice(2);

async function get(path, headers = {}) {
  const r = await fetch(front + path, { headers, signal: AbortSignal.timeout(10000) });
  return { status: r.status, body: await r.text() };
}
function fail(msg) {
  console.error(`prometheus_scrape: FAIL: ${msg}`);
  process.exit(1);
}

// Where each metric of include/tetrapak/metrics.hpp is expected, written out
// here rather than read from the library so a renamed series fails the test.
const series = {
  cache_hit: ['tetrapak_cache_lookups_total', { result: 'hit' }],
  cache_miss: ['tetrapak_cache_lookups_total', { result: 'miss' }],
  coalesced: ['tetrapak_cache_lookups_total', { result: 'coalesced' }],
  renewal_started: ['tetrapak_renewals_started_total'],
  renewal_succeeded: ['tetrapak_renewals_succeeded_total'],
  renewal_failed: ['tetrapak_renewals_failed_total'],
  retry: ['tetrapak_retries_total'],
  failure: ['tetrapak_token_fetch_failures_total'],
  fetch: ['tetrapak_token_fetches_total'],
  retry_after_honoured: ['tetrapak_retry_after_refusals_total'],
  connection_opened: ['tetrapak_connections_opened_total'],
  connection_reused: ['tetrapak_connections_reused_total'],
  tls_resumed: ['tetrapak_tls_sessions_resumed_total'],
  connection_wait: ['tetrapak_connection_waits_total'],
  fleet_hit: ['tetrapak_fleet_hits_total'],
  fleet_stored: ['tetrapak_fleet_stored_total'],
  fleet_waited: ['tetrapak_fleet_waits_total'],
  fleet_unavailable: ['tetrapak_fleet_unavailable_total'],
  fleet_breaker: ['tetrapak_fleet_breaker_transitions_total'],
  fleet_rejected: ['tetrapak_fleet_rejected_total'],
  fleet_dropped: ['tetrapak_fleet_dropped_total'],
};
const errorLabelled = new Set(['tetrapak_renewals_failed_total', 'tetrapak_retries_total',
  'tetrapak_token_fetch_failures_total', 'tetrapak_connection_waits_total', 'tetrapak_fleet_unavailable_total',
  'tetrapak_fleet_breaker_transitions_total']);
const histograms = {
  fetch: 'tetrapak_token_fetch_duration_seconds',
  connection_wait: 'tetrapak_connection_wait_duration_seconds',
  fleet_waited: 'tetrapak_fleet_wait_duration_seconds',
};

/// The text format's samples: [{name, labels, value}].
function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? ([^ ]+)( [0-9]+)?$/);
    if (!m) fail(`not a sample line of the text format: ${line}`);
    const labels = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}
function sum(samples, name, want = {}) {
  let total = 0, n = 0;
  for (const s of samples)
    if (s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v)) { total += s.value; ++n; }
  return { total, n };
}

// A run: a user (token exchange; then twice from the cache), a system caller
// (client credentials), a broken caller JWT (a failure with an OAuth error).
for (const [what, headers, expect] of [
  ['user', { authorization: `Bearer ${alice}` }, 200],
  ['user again', { authorization: `Bearer ${alice}` }, 200],
  ['user a third time', { authorization: `Bearer ${alice}` }, 200],
  ['system caller', { authorization: `Bearer ${job}` }, 200],
  ['broken caller JWT', { authorization: `Bearer ${alice.slice(0, -2)}${alice.endsWith('AA') ? 'BB' : 'AA'}` }, 502],
]) {
  const r = await get('/orders', headers);
  if (r.status !== expect) fail(`${what}: GET /orders answered ${r.status}, expected ${expect}: ${r.body}`);
}

const stats = JSON.parse((await get('/stats')).body);
const scrape = await get('/metrics');
if (scrape.status !== 200) fail(`GET /metrics answered ${scrape.status}: ${scrape.body}`);
const samples = parse(scrape.body);
for (const [metric, [family, labels]] of Object.entries(series)) {
  if (!(metric in stats)) fail(`GET /stats has no ${metric}`);
  const { total, n } = sum(samples, family, { ...labels, service: 'orders' });
  // A family labelled by error has no series (and is not listed) before its first event.
  if (n === 0 && (labels || stats[metric] !== 0 || !errorLabelled.has(family)))
    fail(`no ${family}${JSON.stringify(labels ?? {})} for service="orders" in /metrics`);
  if (total !== stats[metric]) fail(`${metric}: /metrics says ${total}, /stats says ${stats[metric]}`);
}
for (const metric of Object.keys(stats))
  if (!(metric in series)) fail(`/stats has ${metric}, which this test does not know: add its series`);
for (const [metric, family] of Object.entries(histograms)) {
  const { total } = sum(samples, `${family}_count`, { service: 'orders' });
  if (total !== stats[metric]) fail(`${family}_count is ${total}, /stats ${metric} is ${stats[metric]}`);
}
// The run itself: two fetches (user, system), two hits, one failure named by its OAuth error.
if (stats.fetch !== 2 || stats.cache_hit !== 2) fail(`the run: fetch ${stats.fetch}, cache_hit ${stats.cache_hit}, expected 2 and 2`);
if (sum(samples, 'tetrapak_token_fetch_failures_total', { error: 'invalid_grant' }).total !== 1)
  fail('no tetrapak_token_fetch_failures_total{error="invalid_grant"} 1 for the broken caller JWT');
for (const secret of ['basic-secret', 'basic-client', alice, job, alice.split('.')[1]])
  if (scrape.body.includes(secret)) fail(`/metrics contains a secret, token or client id (${secret.slice(0, 12)}...)`);
if (/eyJ[A-Za-z0-9_-]{10,}/.test(scrape.body)) fail('/metrics contains something like a JWT');
console.log(`ok: /metrics matches /stats for ${Object.keys(series).length} counters and ${Object.keys(histograms).length} histograms ` +
            `(${samples.length} samples; fetch ${stats.fetch}, cache_hit ${stats.cache_hit}, failure ${stats.failure})`);
