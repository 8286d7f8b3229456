// Drives Debian's Chromium (never a downloaded browser) through the steps
// of a plan written by tests/browser.rs, and prints what it saw as one JSON
// object on stdout: per step the URL, title, visible text and cookies; every
// request and response of the run (POST bodies of SAML bindings included);
// a screenshot per step. The Rust test makes every judgement; this script
// only acts and records.
//
//   node drive.mjs PLAN.json
//
// A plan: { "chromium": "/usr/bin/chromium", "user_data_dir": DIR,
//   "screenshots": DIR, "timeout_ms": N, "steps": [STEP...] }
// A step has a "name" (NN-what, the screenshot's file name) and one action:
//   "goto": URL | "fill": {selector: value} | "click": selector
//   | "fetch_json": path (a same-origin fetch with Accept: application/json,
//   the answer parsed into the step's "json")
// and optionally "wait_text": [strings]: wait until the page's text holds
// one of them (the step records which). The first failing step ends the run
// (its "error" says why); the output is printed all the same.
import { readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const plan = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const timeout = plan.timeout_ms ?? 20000;
mkdirSync(plan.screenshots, { recursive: true });

const context = await chromium.launchPersistentContext(plan.user_data_dir, {
  executablePath: plan.chromium,
  headless: true,
  ignoreHTTPSErrors: true,
  args: [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync',
    // The gateway's certificate is self-signed, made per run.
    '--ignore-certificate-errors',
  ],
  viewport: { width: 1000, height: 800 },
});
const out = { version: context.browser()?.version() ?? null, steps: [], requests: [], responses: [] };
const page = context.pages()[0] ?? await context.newPage();
page.setDefaultTimeout(timeout);
page.on('request', (r) => {
  out.requests.push({ method: r.method(), url: r.url(), post_data: r.method() === 'POST' ? r.postData() : null });
});
page.on('response', (r) => {
  out.responses.push({ url: r.url(), status: r.status(), location: r.headers()['location'] ?? null });
});

async function bodyText() {
  try {
    return await page.evaluate(() => (document.body ? document.body.innerText : ''));
  } catch {
    return '';
  }
}

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
  if (record.error) break;
}

await context.close();
process.stdout.write(JSON.stringify(out));
