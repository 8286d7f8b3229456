// The short, bounded load of tests/observability.rs: authenticated
// pass-through GETs, unique signed Responses posted to the ACS, Responses
// the gateway must refuse, browsers without a session sent to the IdP, and
// requests to a route whose backend is down.
// Every scenario stops after DURATION or when its bodies run out.
//
//   k6 run -e BASE=http://127.0.0.1:8080 -e COOKIE_FILE=cookie.txt \
//          -e GOOD=good.txt -e BAD=bad.txt -e DURATION=8s load.js
//
// GOOD and BAD: one URL-encoded form body (SAMLResponse=...) per line,
// written by the test; each good one is posted once (a second post would be
// a replay, which the test makes on purpose afterwards).
import http from 'k6/http';
import exec from 'k6/execution';
import { check } from 'k6';
import { SharedArray } from 'k6/data';

const base = __ENV.BASE;
const duration = __ENV.DURATION || '8s';
const cookie = open(__ENV.COOKIE_FILE).trim();
const lines = (path) => open(path).split('\n').filter((l) => l.length > 0);
const good = new SharedArray('good', () => lines(__ENV.GOOD));
const bad = new SharedArray('bad', () => lines(__ENV.BAD));

export const options = {
  discardResponseBodies: true,
  noCookiesReset: true,
  scenarios: {
    passthrough: {
      executor: 'constant-vus', exec: 'passthrough', vus: 2, duration,
    },
    acs: {
      executor: 'shared-iterations', exec: 'acs', vus: 1,
      iterations: good.length, maxDuration: duration,
    },
    refused: {
      executor: 'shared-iterations', exec: 'refused', vus: 1,
      iterations: bad.length, maxDuration: duration,
    },
    login: {
      executor: 'constant-arrival-rate', exec: 'login', rate: 2, timeUnit: '1s',
      duration, preAllocatedVUs: 1, maxVUs: 2,
    },
    backend_down: {
      executor: 'constant-arrival-rate', exec: 'backendDown', rate: 5, timeUnit: '1s',
      duration, preAllocatedVUs: 1, maxVUs: 2,
    },
  },
};

const withSession = { headers: { Cookie: cookie, Accept: 'text/html' }, redirects: 0 };
const form = {
  headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
  redirects: 0,
};

export function passthrough() {
  const paths = ['/app/page', '/public/x', '/'];
  const res = http.get(base + paths[exec.scenario.iterationInTest % paths.length], withSession);
  check(res, { 'pass-through 200': (r) => r.status === 200 });
}

export function acs() {
  const body = good[exec.scenario.iterationInTest];
  if (body === undefined) return;
  // A fresh browser each time: no login state, no session.
  const res = http.post(base + '/saml/acs', body, Object.assign({ jar: new http.CookieJar() }, form));
  check(res, { 'acs 303': (r) => r.status === 303 });
}

export function refused() {
  const body = bad[exec.scenario.iterationInTest];
  if (body === undefined) return;
  const res = http.post(base + '/saml/acs', body, Object.assign({ jar: new http.CookieJar() }, form));
  check(res, { 'refused 4xx': (r) => r.status >= 400 && r.status < 500 });
}

// A browser without a session, having picked the IdP on the discovery page
// (the test gateway has two IdPs): sent to the IdP.
export function login() {
  const res = http.get(base + '/app/page?samlgate_idp=corp', {
    headers: { Accept: 'text/html' }, redirects: 0, jar: new http.CookieJar(),
  });
  check(res, { 'login redirect 302': (r) => r.status === 302 });
}

export function backendDown() {
  const res = http.get(base + '/down/x', withSession);
  check(res, { 'backend down 502': (r) => r.status === 502 });
}

export function handleSummary(data) {
  const out = {};
  if (__ENV.SUMMARY) out[__ENV.SUMMARY] = JSON.stringify(data);
  return out;
}
