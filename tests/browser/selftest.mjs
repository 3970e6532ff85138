#!/usr/bin/env node
// Checks the browser harness (review.mjs) against a stand-in review page served here, so the
// harness is known to work before Ferry's own page exists: both decisions at phone and desktop
// widths, the screenshots, and the checks that must fail (a foreign request, a missing header).
//
//   node tests/browser/selftest.mjs      screenshots under target/browser-artifacts/selftest/

import { execFile } from 'node:child_process';
import { rm, readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..', '..');
const reviewScript = path.join(here, 'review.mjs');
const artifacts = path.join(root, 'target', 'browser-artifacts', 'selftest');
// Past review.mjs's own 120 s watchdog, so its message is what a hang shows.
const CHILD_DEADLINE_MS = 150_000;

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

// For the broken pages: lets images and form targets anywhere, so only the harness can object.
const LAX_CSP = {
  ...SECURITY_HEADERS,
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; img-src *",
};

const escape = (s) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

// The shape of Ferry's review page: facts, the plan, and a form that needs no JavaScript.
function reviewPage({ extra = '' } = {}) {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Approve prod? shop-api 1.4.2</title>
<style>
  body { font-family: sans-serif; margin: 1rem; max-width: 60rem; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .25rem 1rem; }
  dt { font-weight: bold; }
  table { border-collapse: collapse; width: 100%; }
  td, th { border: 1px solid #999; padding: .25rem .5rem; text-align: left; }
  textarea { width: 100%; min-height: 5rem; box-sizing: border-box; }
  .add { color: #070; } .change { color: #850; } .destroy { color: #a00; }
</style></head>
<body>
<h1>Approve prod? shop-api 1.4.2</h1>
<dl>
  <dt>Component</dt><dd>shop-api</dd>
  <dt>Version</dt><dd>1.4.2</dd>
  <dt>Environment</dt><dd>prod</dd>
  <dt>Requested by</dt><dd>alice@example.com</dd>
  <dt>Expires</dt><dd>2030-01-01T12:00:00Z</dd>
</dl>
<h2>Plan: 1 to add, 1 to change, 0 to destroy</h2>
<table>
  <thead><tr><th>Action</th><th>Resource</th></tr></thead>
  <tbody>
    <tr><td class="add">create</td><td>aws_s3_bucket.assets</td></tr>
    <tr><td class="change">update</td><td>aws_lambda_function.api</td></tr>
  </tbody>
</table>
${extra}
<form method="post">
  <input type="hidden" name="link" value="tok_0123456789abcdef">
  <label for="comment">Comment</label>
  <textarea id="comment" name="comment"></textarea>
  <label for="confirm">Type the environment name to confirm</label>
  <input id="confirm" name="confirm" autocomplete="off">
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="reject">Reject</button>
</form>
</body></html>`;
}

function decidedPage(form) {
  const decision = form.get('decision') ?? '(none)';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Decision recorded: ${escape(decision)}</title></head>
<body>
<h1>Decision recorded</h1>
<p>Decision: ${escape(decision)}</p>
<p>Comment: ${escape(form.get('comment') ?? '')}</p>
<p>Confirm: ${escape(form.get('confirm') ?? '')}</p>
<p>Link: ${escape(form.get('link') ?? '')}</p>
</body></html>`;
}

function startServer() {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const send = (status, body, headers = SECURITY_HEADERS) => {
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', ...headers });
      res.end(body);
    };
    if (req.method === 'POST' && url.pathname === '/offsite/review') {
      // A broken page whose POST redirects off the origin (its CSP has no form-action to stop it).
      req.resume();
      req.on('end', () => send(303, '', { ...LAX_CSP, location: 'http://example.invalid/done' }));
      return;
    }
    if (req.method === 'POST' && (url.pathname === '/review' || url.pathname === '/prg/review')) {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        const form = new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
        if (url.pathname === '/review') return send(200, decidedPage(form));
        // Post/Redirect/Get: the decision page is a GET that echoes what was posted.
        send(303, '', { ...SECURITY_HEADERS, location: `/prg/decided?${form}` });
      });
      return;
    }
    if (req.method !== 'GET') return send(405, 'method not allowed');
    switch (url.pathname) {
      case '/review':
      case '/prg/review':
        return send(200, reviewPage());
      case '/prg/decided':
        return send(200, decidedPage(url.searchParams));
      case '/external':
        // A broken page whose CSP lets an image through: the harness must still catch it.
        return send(200, reviewPage({ extra: '<img src="http://example.invalid/x.png" alt="">' }), LAX_CSP);
      case '/offsite/review':
        return send(200, reviewPage(), LAX_CSP);
      case '/no-frame-options': {
        const { 'x-frame-options': _, ...rest } = SECURITY_HEADERS;
        return send(200, reviewPage(), rest);
      }
      default:
        return send(404, 'not found');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

function runReview(args) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [reviewScript, ...args],
      { timeout: CHILD_DEADLINE_MS, killSignal: 'SIGKILL', cwd: root },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : `killed (${err.signal ?? err.message})`) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

async function checkPng(file, width) {
  const bytes = await readFile(file);
  if (bytes.length < 100 || !bytes.subarray(0, 8).equals(PNG_SIGNATURE)) {
    throw new Error(`${file} is not a PNG (${bytes.length} bytes)`);
  }
  // IHDR follows the signature: length, "IHDR", then the width as a big-endian u32.
  const got = bytes.readUInt32BE(16);
  if (got !== width) throw new Error(`${file} is ${got} px wide, want ${width}`);
}

function expect(cond, message) {
  if (!cond) throw new Error(message);
}

function parseResult(run) {
  expect(run.code === 0, `review.mjs exited ${run.code}: ${run.stderr.trim()}`);
  const lines = run.stdout.trim().split('\n');
  expect(lines.length === 1, `review.mjs printed ${lines.length} lines, want one JSON line`);
  return JSON.parse(lines[0]);
}

function expectOneErrorLine(run, ...needles) {
  expect(run.code !== 0, `review.mjs passed; want a failure (stdout: ${run.stdout.trim()})`);
  const stderr = run.stderr.trim();
  expect(!stderr.includes('\n'), `stderr is not one line:\n${stderr}`);
  for (const needle of needles) {
    expect(stderr.includes(needle), `stderr does not name ${needle}: ${stderr}`);
  }
  return stderr;
}

async function main() {
  await rm(artifacts, { recursive: true, force: true });
  const server = await startServer();
  const base = `http://127.0.0.1:${server.address().port}`;
  const cases = [];
  const test = (name, fn) => cases.push({ name, fn });

  const comment = 'Ship it — checked the plan & the <diff>, 100% "fine"';
  for (const [decision, width, height] of [
    ['approve', 390, 844],
    ['reject', 1280, 800],
  ]) {
    test(`${decision} at ${width}x${height}`, async () => {
      const out = path.join(artifacts, decision);
      const result = parseResult(
        await runReview([
          '--url', `${base}/review`, '--out', out, '--comment', comment, '--confirm', 'prod',
          '--decision', decision, '--width', String(width), '--height', String(height),
        ]),
      );
      expect(result.status === 200, `status ${result.status}, want 200`);
      expect(result.title === `Decision recorded: ${decision}`, `title ${JSON.stringify(result.title)}`);
      for (const line of [`Decision: ${decision}`, `Comment: ${comment}`, 'Confirm: prod', 'Link: tok_0123456789abcdef']) {
        expect(result.text.includes(line), `text lacks ${JSON.stringify(line)}: ${JSON.stringify(result.text)}`);
      }
      expect(result.review.status === 200, `review status ${result.review.status}`);
      expect(result.review.text.includes('aws_lambda_function.api'), 'review text lacks the plan');
      const want = [path.join(out, `review-${width}.png`), path.join(out, `decided-${width}.png`)];
      expect(JSON.stringify(result.screenshots) === JSON.stringify(want), `screenshots ${result.screenshots}`);
      for (const file of want) await checkPng(file, width);
      return want;
    });
  }

  test('a POST answered 303 reports 303 and the page it leads to', async () => {
    const out = path.join(artifacts, 'redirect');
    const result = parseResult(
      await runReview(['--url', `${base}/prg/review`, '--out', out, '--comment', 'ok', '--decision', 'approve']),
    );
    expect(result.status === 303, `status ${result.status}, want 303`);
    expect(result.text.includes('Decision: approve'), `text ${JSON.stringify(result.text)}`);
    expect(result.text.includes('Comment: ok'), `text ${JSON.stringify(result.text)}`);
    expect(/^Confirm:\s*$/m.test(result.text), `confirm should stay empty without --confirm: ${JSON.stringify(result.text)}`);
    return [];
  });

  test('review only (no --decision)', async () => {
    const out = path.join(artifacts, 'review-only');
    const result = parseResult(await runReview(['--url', `${base}/review`, '--out', out]));
    expect(result.status === 200, `status ${result.status}`);
    expect(result.title === 'Approve prod? shop-api 1.4.2', `title ${JSON.stringify(result.title)}`);
    expect(result.text.includes('Plan: 1 to add, 1 to change, 0 to destroy'), 'text lacks the plan summary');
    expect(result.screenshots.length === 1, `screenshots ${result.screenshots}`);
    await checkPng(result.screenshots[0], 390);
    return result.screenshots;
  });

  test('a request to another origin fails, naming the URL', async () => {
    const out = path.join(artifacts, 'external');
    const run = await runReview(['--url', `${base}/external`, '--out', out, '--decision', 'approve']);
    return [expectOneErrorLine(run, 'http://example.invalid/x.png')];
  });

  test('a POST redirected to another origin fails, naming the URL', async () => {
    const out = path.join(artifacts, 'offsite');
    const run = await runReview(['--url', `${base}/offsite/review`, '--out', out, '--decision', 'approve']);
    return [expectOneErrorLine(run, 'http://example.invalid/done')];
  });

  test('a missing x-frame-options fails, naming the header', async () => {
    const out = path.join(artifacts, 'no-frame-options');
    const run = await runReview(['--url', `${base}/no-frame-options`, '--out', out]);
    return [expectOneErrorLine(run, 'x-frame-options missing')];
  });

  test('a usage error is one line', async () => {
    const run = await runReview(['--out', artifacts]);
    expect(run.code === 2, `exit ${run.code}, want 2`);
    return [expectOneErrorLine(run, '--url is required')];
  });

  let passed = 0;
  let failed = 0;
  try {
    for (const { name, fn } of cases) {
      const started = Date.now();
      try {
        const notes = await fn();
        passed += 1;
        console.log(`ok   ${name} (${Date.now() - started} ms)`);
        for (const note of notes ?? []) console.log(`       ${path.isAbsolute(note) ? path.relative(root, note) : note}`);
      } catch (err) {
        failed += 1;
        console.log(`FAIL ${name} (${Date.now() - started} ms): ${err.message}`);
      }
    }
  } finally {
    server.close();
    server.closeAllConnections();
  }
  console.log(`selftest: ${passed} passed, ${failed} failed`);
  return failed === 0 ? 0 : 1;
}

process.exitCode = await main();
