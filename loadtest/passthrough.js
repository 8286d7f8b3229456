// Authenticated pass-through: GET with a sealed session cookie.
//
//   k6 run -e TARGET=http://127.0.0.1:18080/ -e COOKIE_FILE=out/cookie.txt \
//          -e SUMMARY=out/summary.json --vus 32 --duration 15s passthrough.js
//
// With -e RATE=N (and -e DURATION=15s -e VUS=32, not --vus/--duration,
// which would override the scenario): N GETs per second whatever the
// server's speed (constant-arrival-rate), so that servers' latencies are
// compared at the same offered load, not each at its own closed-loop rate.
//
// TARGET: the URL to GET (direct backend, nginx, bare pingora or samlgate).
// COOKIE_FILE: the `Cookie` header value written by examples/gen_responses.rs
// (sent to every target, so every target parses the same request).
import http from 'k6/http';
import { check } from 'k6';

const target = __ENV.TARGET || 'http://127.0.0.1:18080/';
const cookie = open(__ENV.COOKIE_FILE || 'out/cookie.txt').trim();

export const options = {
  discardResponseBodies: true,
  summaryTrendStats: ['avg', 'min', 'med', 'p(90)', 'p(99)', 'max'],
  // One connection per VU, kept alive (a browser with a session).
  noCookiesReset: true,
};
if (__ENV.RATE) {
  const vus = parseInt(__ENV.VUS || '32', 10);
  options.scenarios = {
    fixed_rate: {
      executor: 'constant-arrival-rate',
      rate: parseInt(__ENV.RATE, 10),
      timeUnit: '1s',
      duration: __ENV.DURATION || '15s',
      preAllocatedVUs: vus,
      maxVUs: vus,
    },
  };
}

const params = {
  headers: { Cookie: cookie, Accept: 'text/html' },
  redirects: 0,
  tags: { name: 'passthrough' },
};

export default function () {
  const res = http.get(target, params);
  check(res, { 'status 200': (r) => r.status === 200 });
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY) out[__ENV.SUMMARY] = JSON.stringify(data);
  return out;
}
