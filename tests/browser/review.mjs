#!/usr/bin/env node
// Drives Ferry's review page in headless Chromium the way an approver does: open the emailed
// link, look at it, decide with a comment through the plain HTML form, and report what came back.
//
//   node tests/browser/review.mjs --url URL --out DIR [--comment TEXT] [--confirm NAME]
//        [--decision approve|reject] [--width 390 --height 844]
//
// Saves DIR/review-<width>.png (and DIR/decided-<width>.png after a decision) and prints one JSON
// line: {"title","status","text","screenshots","review":{"title","status","text"}}. `status` is
// the HTTP status of the form POST's own response (a 303 if the page redirects after the POST);
// without --decision the top-level fields describe the review page itself. Exits 0 on success,
// 2 on a usage error, 1 with one error line on stderr when the page or the browser fails a check.
// JavaScript is off in the page: the review page must work as a plain form.

import { mkdir } from 'node:fs/promises';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
];
// Every wait has this deadline; the watchdog bounds the whole run.
const DEADLINE_MS = 30_000;
const WATCHDOG_MS = 120_000;
const TEXT_LIMIT = 2000;

const USAGE =
  'usage: node tests/browser/review.mjs --url URL --out DIR [--comment TEXT] [--confirm NAME] ' +
  '[--decision approve|reject] [--width 390 --height 844]';

class UsageError extends Error {}
class CheckError extends Error {}

function parseCli(argv) {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        url: { type: 'string' },
        out: { type: 'string' },
        comment: { type: 'string', default: '' },
        confirm: { type: 'string' },
        decision: { type: 'string' },
        width: { type: 'string', default: '390' },
        height: { type: 'string', default: '844' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError(`${err.message}; ${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    process.exit(0);
  }
  if (!values.url) throw new UsageError(`--url is required; ${USAGE}`);
  if (!values.out) throw new UsageError(`--out is required; ${USAGE}`);
  let url;
  try {
    url = new URL(values.url);
  } catch {
    throw new UsageError(`--url ${values.url} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`--url ${values.url} is not an http(s) URL`);
  }
  if (values.decision !== undefined && !['approve', 'reject'].includes(values.decision)) {
    throw new UsageError(`--decision must be approve or reject, not ${values.decision}`);
  }
  const size = (name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 100 || n > 4000) {
      throw new UsageError(`--${name} must be a whole number of pixels (100-4000), not ${values[name]}`);
    }
    return n;
  };
  return {
    url,
    out: path.resolve(values.out),
    comment: values.comment,
    confirm: values.confirm,
    decision: values.decision,
    width: size('width'),
    height: size('height'),
  };
}

async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch {
    throw new CheckError(
      'playwright-core is not installed: run `bash scripts/setup.sh` (npm ci in the checkout)',
    );
  }
}

function requireChromium() {
  try {
    accessSync(CHROMIUM, fsConstants.X_OK);
  } catch {
    throw new CheckError(
      `${CHROMIUM} not found: run \`bash scripts/setup.sh\` as root, or ` +
        '`apt-get install -y --no-install-recommends chromium`',
    );
  }
}

// The review page carries a plan and a one-time link: it must not be cached, framed, leak its
// URL in a Referer, or load anything its CSP has not allowed.
async function checkSecurityHeaders(response, what) {
  const headers = await response.allHeaders();
  const problems = [];
  if (!headers['content-security-policy']) problems.push('content-security-policy missing');
  const expect = (name, ok, want) => {
    const got = headers[name];
    if (got === undefined) problems.push(`${name} missing (want ${want})`);
    else if (!ok(got.trim().toLowerCase())) problems.push(`${name} is "${got}" (want ${want})`);
  };
  expect('referrer-policy', (v) => v === 'no-referrer', 'no-referrer');
  expect(
    'cache-control',
    (v) => v.split(',').some((d) => d.trim() === 'no-store'),
    'no-store',
  );
  expect('x-frame-options', (v) => v === 'deny', 'DENY');
  if (problems.length > 0) {
    throw new CheckError(`${what} ${response.url()}: ${problems.join('; ')}`);
  }
}

function checkNoForeignRequests(foreign, origin) {
  if (foreign.length > 0) {
    const urls = [...new Set(foreign)];
    throw new CheckError(
      `the page requested ${urls.length === 1 ? 'a URL' : 'URLs'} outside ${origin}: ${urls.join(', ')}`,
    );
  }
}

async function visibleText(page) {
  const text = await page.locator('body').innerText({ timeout: DEADLINE_MS });
  return text.trim().slice(0, TEXT_LIMIT);
}

async function screenshot(page, file) {
  await page.screenshot({ path: file, fullPage: true, timeout: DEADLINE_MS });
  return file;
}

async function only(page, selector, what) {
  const locator = page.locator(selector);
  const n = await locator.count();
  if (n !== 1) {
    throw new CheckError(`the review page has ${n} ${what} (${selector}); want exactly one`);
  }
  return locator;
}

async function decide(page, opts, checkForeign) {
  const comment = await only(page, 'textarea[name=comment]', 'comment fields');
  await comment.fill(opts.comment, { timeout: DEADLINE_MS });
  const confirm = page.locator('input[name=confirm]');
  const confirms = await confirm.count();
  if (confirms > 0 && opts.confirm !== undefined) {
    await confirm.first().fill(opts.confirm, { timeout: DEADLINE_MS });
  } else if (confirms === 0 && opts.confirm !== undefined) {
    throw new CheckError('--confirm given but the review page has no input[name=confirm]');
  }
  const button = await only(
    page,
    `button[name=decision][value=${opts.decision}]`,
    `${opts.decision} buttons`,
  );

  // Both waits start before the click: the POST's own response (a redirect's too) and the
  // main frame committing whatever document the POST leads to.
  const posted = page.waitForResponse(
    (r) =>
      r.request().method() === 'POST' &&
      r.request().isNavigationRequest() &&
      r.request().frame() === page.mainFrame(),
    { timeout: DEADLINE_MS },
  );
  const navigated = page.waitForEvent('framenavigated', {
    predicate: (frame) => frame === page.mainFrame(),
    timeout: DEADLINE_MS,
  });
  // A rejected wait must not surface as an unhandled rejection while the other is awaited.
  posted.catch(() => {});
  navigated.catch(() => {});
  await button.click({ timeout: DEADLINE_MS });
  let response;
  try {
    [response] = await Promise.all([posted, navigated]);
  } catch (err) {
    checkForeign(); // a POST that leads off-origin is aborted: name where it went
    throw new CheckError(
      `clicking ${opts.decision} did not POST and navigate within ${DEADLINE_MS / 1000} s ` +
        `(a required field left empty?): ${firstLine(err)}`,
    );
  }
  await page.waitForLoadState('load', { timeout: DEADLINE_MS });
  return response;
}

async function run(opts) {
  requireChromium();
  const { chromium } = await loadPlaywright();
  await mkdir(opts.out, { recursive: true });

  let browser;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: CHROMIUM_ARGS,
      timeout: DEADLINE_MS,
    });
  } catch (err) {
    throw new CheckError(
      `could not start ${CHROMIUM}: ${firstLine(err)} ` +
        '(reinstall it: apt-get install -y --no-install-recommends chromium)',
    );
  }
  try {
    const context = await browser.newContext({
      viewport: { width: opts.width, height: opts.height },
      javaScriptEnabled: false,
    });
    context.setDefaultTimeout(DEADLINE_MS);
    context.setDefaultNavigationTimeout(DEADLINE_MS);

    // Record every request to another origin, and abort it so nothing leaves the machine.
    const origin = opts.url.origin;
    const foreign = [];
    const isForeign = (u) => {
      const parsed = new URL(u);
      // data:, blob: and about: never reach the network.
      if (['data:', 'blob:', 'about:'].includes(parsed.protocol)) return false;
      return parsed.origin !== origin;
    };
    await context.route('**/*', (route) =>
      isForeign(route.request().url()) ? route.abort('blockedbyclient') : route.continue(),
    );
    const page = await context.newPage();
    page.on('request', (request) => {
      if (isForeign(request.url())) foreign.push(request.url());
    });

    const response = await page.goto(opts.url.href, { waitUntil: 'load', timeout: DEADLINE_MS });
    if (!response) throw new CheckError(`no response for ${opts.url.href}`);
    const screenshots = [
      await screenshot(page, path.join(opts.out, `review-${opts.width}.png`)),
    ];
    checkNoForeignRequests(foreign, origin);
    if (!response.ok()) {
      throw new CheckError(`GET ${opts.url.href} answered HTTP ${response.status()}`);
    }
    await checkSecurityHeaders(response, 'the review page');
    const review = {
      title: await page.title(),
      status: response.status(),
      text: await visibleText(page),
    };
    if (opts.decision === undefined) {
      return { ...review, screenshots, review };
    }

    const posted = await decide(page, opts, () => checkNoForeignRequests(foreign, origin));
    screenshots.push(await screenshot(page, path.join(opts.out, `decided-${opts.width}.png`)));
    checkNoForeignRequests(foreign, origin);
    return {
      title: await page.title(),
      status: posted.status(),
      text: await visibleText(page),
      screenshots,
      review,
    };
  } finally {
    await browser.close().catch(() => {});
  }
}

function firstLine(err) {
  const message = err instanceof Error ? err.message : String(err);
  return message.split('\n')[0].trim();
}

async function main() {
  const watchdog = setTimeout(() => {
    process.stderr.write(`error: review.mjs gave up after ${WATCHDOG_MS / 1000} s\n`);
    process.exit(1);
  }, WATCHDOG_MS);
  watchdog.unref();
  try {
    const opts = parseCli(process.argv.slice(2));
    const result = await run(opts);
    process.stdout.write(`${JSON.stringify(result)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${firstLine(err)}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}

process.exitCode = await main();
