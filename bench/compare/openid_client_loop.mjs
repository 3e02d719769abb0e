// Contender "openid-client" of the side-by-side benchmarks (compare.py):
// sequential client-credentials grants with openid-client v6 (pinned in
// package-lock.json), client_secret_basic, on Node's built-in fetch, whose
// global agent keeps connections alive. The test CA is trusted through
// NODE_EXTRA_CA_CERTS (set by compare.py).
//
//   node openid_client_loop.mjs --url URL --issuer ISSUER --id ID --secret S --n N [--warmup W]
//
// After W warm-up grants, times N grants (wall clock and process.cpuUsage())
// and prints one JSON line.
import { parseArgs } from 'node:util';
import * as client from 'openid-client';

const { values: a } = parseArgs({
  options: {
    url: { type: 'string' }, issuer: { type: 'string' }, id: { type: 'string' },
    secret: { type: 'string' }, n: { type: 'string', default: '100' }, warmup: { type: 'string', default: '20' },
  },
  strict: true,
});
const n = Number(a.n), warmup = Number(a.warmup);

// No discovery: the token endpoint is given (nginx serves only /token).
const config = new client.Configuration(
  { issuer: a.issuer, token_endpoint: a.url }, a.id, a.secret, client.ClientSecretBasic(a.secret));

let firstError;
async function run(count) {
  let ok = 0;
  for (let i = 0; i < count; ++i) {
    try {
      const t = await client.clientCredentialsGrant(config, {});
      if (typeof t.access_token === 'string' && t.access_token.length > 0) ++ok;
    } catch (e) {
      firstError ??= `${e.name}: ${e.message} ${e.cause?.message ?? ''}`;
    }
  }
  return ok;
}

const warmOk = await run(warmup);
const c0 = process.cpuUsage();
const t0 = process.hrtime.bigint();
const ok = await run(n);
const t1 = process.hrtime.bigint();
const c = process.cpuUsage(c0);
process.stdout.write(JSON.stringify({
  client: 'openid-client', n, ok, wall_s: Number(t1 - t0) / 1e9, user_s: c.user / 1e6, sys_s: c.system / 1e6,
  warmup_ok: warmOk, node: process.versions.node,
}) + '\n');
if (firstError) process.stderr.write(`openid_client_loop: first error: ${firstError}\n`);
process.exitCode = ok === n && warmOk === warmup ? 0 : 1;
