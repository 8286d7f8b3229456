// Drives Debian's Chromium (never a downloaded browser) through the steps
// of plans written by tests/browser.rs, and prints what it saw: per step
// the URL, title, visible text and cookies; every request and response
// (POST bodies of the SAML bindings included); a screenshot per step. The
// Rust test makes every judgement; this script only acts and records.
//
//   node drive.mjs /usr/bin/chromium     (one plan per stdin line, one
//                                         result per stdout line)
//
// One browser serves the whole test binary (its launch is most of a run's
// time); every plan gets a new browser context, with its own empty cookie
// jar and storage, closed after the plan. The script exits when stdin
// closes, that is when the test binary exits.
//
// A plan: { "screenshots": DIR, "timeout_ms": N, "steps": [STEP...] }
// A step has a "name" (NN-what, the screenshot's file name) and one action:
//   "goto": URL | "fill": {selector: value} | "click": selector
//   | "fetch_json": path (a same-origin fetch with Accept: application/json,
//   the answer parsed into the step's "json")
// and optionally "wait_text": [strings]: wait until the page's text holds
// one of them (the step records which). The first failing step ends the
// plan (its "error" says why); the result is printed all the same.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const t0 = Date.now();
const browser = await chromium.launch({
  executablePath: process.argv[2],
  headless: true,
  // A fresh temporary --user-data-dir per launch (Playwright's default).
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    // The gateway's certificate is self-signed, made per run.
    '--ignore-certificate-errors',
  ],
});
const launchMs = Date.now() - t0;

async function runPlan(plan) {
  const started = Date.now();
  const timeout = plan.timeout_ms ?? 20000;
  mkdirSync(plan.screenshots, { recursive: true });
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1000, height: 800 } });
  const out = { version: browser.version(), launch_ms: launchMs, steps: [], requests: [], responses: [] };
  const page = await context.newPage();
  page.setDefaultTimeout(timeout);
  // The Cookie header a POST really carried (what the network stack added,
  // SameSite rules applied), read when the run ends.
  const pending = [];
  page.on('request', (r) => {
    const entry = { method: r.method(), url: r.url(), post_data: null, cookie: null };
    if (r.method() === 'POST') {
      entry.post_data = r.postData();
      pending.push(r.allHeaders().then((h) => { entry.cookie = h['cookie'] ?? ''; }, () => {}));
    }
    out.requests.push(entry);
  });
  page.on('response', (r) => {
    out.responses.push({ url: r.url(), status: r.status(), location: r.headers()['location'] ?? null });
  });
  const bodyText = () => page.evaluate(() => (document.body ? document.body.innerText : '')).catch(() => '');

  for (const step of plan.steps) {
    const record = { name: step.name };
    out.steps.push(record);
    try {
      if (step.goto) {
        await page.goto(step.goto, { waitUntil: 'load' });
      } else if (step.fill) {
        for (const [selector, value] of Object.entries(step.fill)) {
          await page.fill(selector, value);
        }
      } else if (step.click) {
        await page.click(step.click);
      } else if (step.fetch_json) {
        record.json = await page.evaluate(async (path) => {
          const r = await fetch(path, { headers: { Accept: 'application/json' } });
          return { status: r.status, body: await r.json() };
        }, step.fetch_json);
      }
      if (step.wait_text && step.wait_text.length > 0) {
        const handle = await page.waitForFunction((texts) => {
          const t = document.body ? document.body.innerText : '';
          return texts.find((x) => t.includes(x)) ?? false;
        }, step.wait_text, { timeout, polling: 100 });
        record.matched = await handle.jsonValue();
      }
      await page.waitForLoadState('load');
    } catch (e) {
      record.error = String(e && e.message ? e.message : e).split('\n')[0];
    }
    record.url = page.url();
    record.title = await page.title().catch(() => '');
    record.text = await bodyText();
    record.cookies = await context.cookies();
    await page.screenshot({ path: join(plan.screenshots, `${step.name}.png`), fullPage: true }).catch(() => {});
    record.ms = Date.now() - started;
    if (record.error) break;
  }
  await Promise.allSettled(pending);
  await context.close();
  return out;
}

for await (const line of createInterface({ input: process.stdin })) {
  let out;
  try {
    out = await runPlan(JSON.parse(line));
  } catch (e) {
    out = { fatal: String(e && e.stack ? e.stack : e) };
  }
  process.stdout.write(JSON.stringify(out) + '\n');
}
await browser.close();
