// ACS flood: each iteration POSTs the next unique pre-signed Response
// (examples/gen_responses.rs) to the ACS as a fresh browser (a new, empty
// cookie jar) and expects 303 (accepted, session cookie set).
//
//   k6 run -e ACS=http://127.0.0.1:18080/saml/acs -e BODIES=out/acs-bodies \
//          -e SUMMARY=out/summary.json -e VUS=32 -e DURATION=15s acs.js
//
// Other SPs (compare/compare.sh): EXPECT_STATUS (303) is the status of an
// accepted login, SESSION_COOKIE (samlgate_session=) the start of the
// session cookie it sets (mod_auth_mellon: 303, `mellon-cookie=`;
// Shibboleth SP: 302, `_shibsession_`).
//
// BODIES names `X.txt` (one URL-encoded form body per line, all lines of one
// width) and `X.json` ({"width", "count"}), both written by the generator.
// Iteration i (exec.scenario.iterationInTest, unique across VUs) reads line
// i with k6/experimental/fs, which keeps one copy of the file for all VUs
// and hands the bytes to http.post without turning them into a JavaScript
// string: a SharedArray of 8 KB strings costs k6 ~5 ms of CPU per access,
// which would make the load generator, not the gateway, the bottleneck.
// The scenario stops at the end of the file or after DURATION, whichever
// comes first, so the replay cache never rejects a Response.
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { Counter } from 'k6/metrics';
import { open as openFile, SeekMode } from 'k6/experimental/fs';

const acs = __ENV.ACS || 'http://127.0.0.1:18080/saml/acs';
const expectStatus = parseInt(__ENV.EXPECT_STATUS || '303', 10);
const sessionCookie = __ENV.SESSION_COOKIE || 'samlgate_session=';
const base = __ENV.BODIES || 'out/acs-bodies';
const meta = JSON.parse(open(base + '.json'));
const file = await openFile(base + '.txt');

const accepted = new Counter('acs_accepted');
const rejected = new Counter('acs_rejected');

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  scenarios: {
    acs: {
      executor: 'shared-iterations',
      vus: parseInt(__ENV.VUS || '32', 10),
      iterations: Math.min(meta.count, parseInt(__ENV.MAX_ITERATIONS || '1000000000', 10)),
      maxDuration: __ENV.DURATION || '15s',
    },
  },
};

const headers = { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'text/html' };

export default async function () {
  const i = exec.scenario.iterationInTest;
  if (i >= meta.count) return;
  const body = new Uint8Array(meta.width);
  await file.seek(i * (meta.width + 1), SeekMode.Start);
  const n = await file.read(body);
  if (n !== meta.width) throw new Error(`short read of record ${i}: ${n}`);
  // A fresh browser: nothing in its jar, no session, no login state.
  const res = http.post(acs, body.buffer, {
    headers,
    jar: new http.CookieJar(),
    redirects: 0,
    tags: { name: 'acs' },
  });
  const ok = check(res, {
    'login status': (r) => r.status === expectStatus,
    'session cookie set': (r) => (r.headers['Set-Cookie'] || '').indexOf(sessionCookie) >= 0,
  });
  if (ok) accepted.add(1);
  else rejected.add(1, { status: String(res.status) });
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY) out[__ENV.SUMMARY] = JSON.stringify(data);
  return out;
}
