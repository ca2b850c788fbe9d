// The live web view in headless Chromium, driven by `cargo xtask browser`, which
// starts `vexjournal serve` on a scratch journal and a writer emitting events
// (agent.decision -> filesystem.write -> vector.embed chains, one transaction each,
// among unrelated events) and then runs this script.
//
// Environment: VIEW_URL (the server), VIEW_TOKEN (the bearer token the page is given
// when it asks for one, if the server wants one), PLAYWRIGHT_DIR (a directory whose node_modules
// holds playwright-core), CHROMIUM (default /usr/bin/chromium), SCREENSHOT (where the
// screenshot goes), FILTER_TYPE (a type whose every event has a parent and a
// transaction).
//
// Every check runs even when an earlier one failed, so one run tells which parts of
// the page work; the exit status is non-zero when any failed.

import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined) {
    console.error(`view.mjs: ${name} is not set`);
    process.exit(2);
  }
  return v;
};

const url = env('VIEW_URL');
const require = createRequire(path.join(path.resolve(env('PLAYWRIGHT_DIR')), 'package.json'));
const { chromium } = require('playwright-core');
const executablePath = env('CHROMIUM', '/usr/bin/chromium');
const screenshot = env('SCREENSHOT');
const filterType = env('FILTER_TYPE', 'filesystem.write');
const token = process.env.VIEW_TOKEN || '';

/** The whole run's limit: the browser is closed and the script fails past it. */
const RUN_LIMIT_MS = 90_000;
const WAIT_MS = 20_000;

const results = [];
async function check(name, fn) {
  const started = Date.now();
  try {
    const detail = await fn();
    results.push({ name, ok: true });
    console.log(`browser: PASS ${name}${detail ? ` (${detail})` : ''} [${Date.now() - started} ms]`);
  } catch (e) {
    results.push({ name, ok: false });
    console.log(`browser: FAIL ${name}: ${String(e && e.message ? e.message : e).split('\n')[0]}`);
  }
}

const rowCount = (page) => page.locator('#events tbody tr').count();

let browser;
const limit = setTimeout(async () => {
  console.log(`browser: FAIL the run took more than ${RUN_LIMIT_MS / 1000} s`);
  if (browser) await browser.close().catch(() => {});
  process.exit(1);
}, RUN_LIMIT_MS);

try {
  browser = await chromium.launch({
    executablePath,
    headless: true,
    args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // A 4xx/5xx answer is logged by Chromium too; the checks below judge those.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      problems.push(`console error: ${m.text()}`);
    }
  });
  const origin = new URL(url).origin;
  const foreign = [];
  page.on('request', (r) => { if (new URL(r.url()).origin !== origin) foreign.push(r.url()); });
  // The live stream's connections, for the message of a failed check.
  const streams = [];
  const started = Date.now();
  page.on('request', (r) => {
    if (r.url().includes('follow=1')) {
      streams.push(`${Date.now() - started} ms: ${r.url().slice(origin.length)} Last-Event-ID=${r.headers()['last-event-id'] ? 'yes' : 'no'}`);
    }
  });
  page.on('response', (r) => {
    if (r.url().includes('follow=1')) streams.push(`${Date.now() - started} ms: ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    if (r.url().includes('follow=1')) streams.push(`${Date.now() - started} ms: ${r.failure() ? r.failure().errorText : 'failed'}`);
  });

  await check('the page loads with the journal id', async () => {
    await page.goto(url, { waitUntil: 'load', timeout: WAIT_MS });
    if (token) {
      // The server wants a token: the page asks for it, then sends it on every request.
      await page.waitForSelector('#auth:not([hidden])', { timeout: WAIT_MS });
      await page.fill('#token', token);
      await page.click('#auth button[type="submit"]');
      await page.waitForSelector('#auth', { state: 'hidden', timeout: WAIT_MS });
    }
    await page.waitForFunction(() => {
      const id = document.getElementById('journal-id').textContent;
      return id && id !== '…';
    }, null, { timeout: WAIT_MS });
    return `journal ${await page.textContent('#journal-id')}${token ? ', after the token form' : ''}`;
  });

  await check('events arrive live (rows and counter grow)', async () => {
    await page.waitForFunction(() => document.querySelectorAll('#events tbody tr').length > 0,
      null, { timeout: WAIT_MS });
    const before = await rowCount(page);
    const counted = Number(await page.textContent('#live-count'));
    // New rows on top; the count grows too, unless the table is at its bound.
    const top = Number(await page.getAttribute('#events tbody tr', 'data-seq'));
    await page.waitForFunction(([n, seq]) => {
      const rows = document.querySelectorAll('#events tbody tr');
      const bound = Number(document.getElementById('row-limit').textContent);
      return rows.length > 0 && Number(rows[0].dataset.seq) >= seq + 5
        && (rows.length >= n + 5 || rows.length === bound);
    }, [before, top], { timeout: WAIT_MS });
    const after = await rowCount(page);
    const seqs = await page.$$eval('#events tbody tr', (rows) => rows.map((r) => Number(r.dataset.seq)));
    const unordered = seqs.findIndex((s, i) => i > 0 && s >= seqs[i - 1]);
    if (unordered >= 0) {
      throw new Error(`rows out of order or repeated at ${unordered}: ${seqs.slice(Math.max(0, unordered - 3), unordered + 3)}; stream requests: ${streams.join(' | ')}`);
    }
    const counter = Number(await page.textContent('#live-count'));
    if (!(counter > counted)) throw new Error(`the counter stayed at ${counted}`);
    const newest = await page.getAttribute('#events tbody tr', 'data-seq');
    return `${before} -> ${after} rows, newest #${top} -> #${newest}`;
  });

  await check('the rate chart draws and updates', async () => {
    await page.waitForFunction(() => document.getElementById('chart').dataset.state === 'ok',
      null, { timeout: 10_000 }).catch(async () => {
      const text = await page.textContent('#chart');
      const note = await page.textContent('#chart-note');
      throw new Error(`the chart shows "${text}" (${note})`);
    });
    const first = await page.getAttribute('#chart', 'data-total');
    await page.waitForFunction((t) => {
      const c = document.getElementById('chart');
      return c.dataset.state === 'ok' && c.dataset.total !== t
        && c.querySelectorAll('rect.bar').length > 0;
    }, first, { timeout: WAIT_MS });
    const bars = await page.locator('#chart rect.bar').count();
    return `total ${first} -> ${await page.getAttribute('#chart', 'data-total')}, ${bars} bars`;
  });

  await check(`filtering by type ${filterType} shows only that type`, async () => {
    await page.fill('#f-type', filterType);
    await page.click('#filters button[type="submit"]');
    // The table restarts from the filtered stream, then keeps growing.
    await page.waitForFunction((n) => document.querySelectorAll('#events tbody tr').length >= n,
      3, { timeout: WAIT_MS });
    await page.waitForTimeout(1500);
    const types = await page.$$eval('#events tbody tr', (rows) => rows.map((r) => r.cells[2].textContent));
    const other = types.filter((t) => t !== filterType);
    if (types.length < 3) throw new Error(`only ${types.length} rows`);
    if (other.length > 0) throw new Error(`rows of other types: ${[...new Set(other)].join(', ')}`);
    const status = await page.textContent('#status');
    if (!status.startsWith('live')) throw new Error(`status is "${status}"`);
    return `${types.length} rows, all ${filterType}`;
  });

  await check('an event with a parent shows its causality graph', async () => {
    const rows = page.locator('#events tbody tr');
    if ((await rows.count()) < 2) throw new Error('no rows to click');
    // Live rows arrive at the top, so `rows.nth(1)` may name another row by the time it
    // is clicked: click the row by its sequence instead.
    const seq = Number(await rows.nth(1).getAttribute('data-seq'));
    await page.locator(`#events tbody tr[data-seq="${seq}"]`).click();
    await page.waitForFunction((s) => {
      const json = document.getElementById('event-json').textContent;
      return json.includes(`"seq": ${s}`);
    }, seq, { timeout: WAIT_MS });
    const json = JSON.parse(await page.textContent('#event-json'));
    if (!json.parent) throw new Error(`event #${seq} has no parent: ${JSON.stringify(json)}`);
    await page.waitForFunction(() => document.querySelectorAll('#causality svg g.node').length >= 2,
      null, { timeout: WAIT_MS }).catch(async () => {
      throw new Error(`the causality pane shows "${await page.textContent('#causality')}"`);
    });
    const nodes = await page.locator('#causality svg g.node').count();
    const edges = await page.locator('#causality svg path.edge').count();
    const focus = await page.getAttribute('#causality svg g.node.focus', 'data-seq');
    if (Number(focus) !== seq) throw new Error(`the highlighted node is ${focus}, not ${seq}`);
    if (edges < 1) throw new Error('no edge drawn');
    return `event #${seq}: ${nodes} nodes, ${edges} edges`;
  });

  await check("the event's transaction is listed", async () => {
    await page.waitForFunction(() => document.querySelectorAll('#tx-events li').length >= 2,
      null, { timeout: WAIT_MS }).catch(async () => {
      throw new Error(`the transaction pane shows "${await page.textContent('#tx-events')}"`);
    });
    const current = await page.locator('#tx-events li.current').count();
    if (current !== 1) throw new Error(`${current} entries marked as the event itself`);
    return `${await page.locator('#tx-events li').count()} events`;
  });

  await check('nothing loaded from elsewhere, no script errors', async () => {
    if (foreign.length > 0) throw new Error(`requests to other origins: ${foreign.join(', ')}`);
    if (problems.length > 0) throw new Error(problems.join('; '));
  });

  await check('screenshot saved', async () => {
    // The whole journal again in the table, the event's detail kept open.
    await page.click('#filters button[type="reset"]');
    await page.waitForFunction(() => {
      const types = new Set([...document.querySelectorAll('#events tbody tr')].map((r) => r.dataset.type));
      return types.size >= 3;
    }, null, { timeout: WAIT_MS });
    await page.waitForTimeout(1000);
    await page.screenshot({ path: screenshot });
    return screenshot;
  });
} catch (e) {
  results.push({ name: 'browser', ok: false });
  console.log(`browser: FAIL ${e && e.message ? e.message : e}`);
} finally {
  clearTimeout(limit);
  if (browser) await browser.close().catch(() => {});
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
console.log(`browser: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
