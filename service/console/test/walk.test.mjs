// The console's browser walk: a township secretary, a county and a city
// admin (and, in k., a village secretary) sign in to /console/ in Chromium and use it against a running demo
// (`scripts/console-walk.sh` starts one and sets REDPOINT_URL). Every
// figure on a screen is checked against the public REST API it is a
// client of; every test also fails on a JavaScript dialog, an uncaught
// error or a Content-Security-Policy violation.
//
// One browser for the file, a fresh context (no cookies, no
// sessionStorage) for each test. No sleeps: every wait is on a condition,
// with Playwright's timeouts as the deadline. The walk writes to the demo
// (errands, ratings, a closed follow-up, an account, an errand's files,
// full reads in the audit log): point REDPOINT_URL at a demo you can spare.
import assert from 'node:assert/strict';
import { randomInt, randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';

import { chromium } from 'playwright-core';

const base = process.env.REDPOINT_URL ?? 'http://127.0.0.1:8080';
const consoleUrl = new URL('/console/', base).href;
const chromiumPath = process.env.REDPOINT_CHROMIUM ?? '/usr/bin/chromium';
const PASSWORD = 'redpoint-demo';

const CITY_ADMIN = '13800000001'; // 长治市
const COUNTY_ADMIN = '13800000002'; // 襄垣县
const SECRETARY = '13800000003'; // 古韩镇
const AGENT = '13800000005'; // 古韩镇
const VILLAGE_SECRETARY = '13800000007'; // the village of AGENT's point
const CHANGZHI = '140400000000';
const XIANGYUAN = '140423000000';
const GUHAN = '140423100000';
const DANZHU = '140428100000';
const REFRESH_KEY = 'redpoint.console.refresh';
const PHONE = { width: 375, height: 812 };
const DESKTOP = { width: 1440, height: 900 };

// ---------------------------------------------------------------- the API

const sessions = new Map(); // phone → the API's login answer

async function request(method, path, { token, query, body } = {}) {
  const url = new URL(path, base);
  for (const [k, v] of Object.entries(query ?? {})) url.searchParams.set(k, String(v));
  const res = await fetch(url, {
    method,
    headers: {
      Accept: 'application/json',
      ...(token ? { Authorization: `Bearer ${token}` } : {}),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) {
    const err = new Error(`${method} ${url.pathname}${url.search}: HTTP ${res.status} ${text.slice(0, 400)}`);
    err.status = res.status;
    throw err;
  }
  return text ? JSON.parse(text) : null;
}

async function apiSession(phone) {
  if (!sessions.has(phone)) sessions.set(phone, await request('POST', '/v1/auth:login', { body: { phone, password: PASSWORD } }));
  return sessions.get(phone);
}

// as(phone) calls the API as that demo user, the way the console does.
function as(phone) {
  const token = async () => (await apiSession(phone)).accessToken;
  return {
    get: async (path, query) => request('GET', path, { token: await token(), query }),
    post: async (path, body, query) => request('POST', path, { token: await token(), body, query }),
  };
}

// eventually polls fn until it returns something truthy, for what the
// server does after it answers (the outbox's follow-ups, the audit log).
async function eventually(what, fn, { within = 15_000 } = {}) {
  const deadline = Date.now() + within;
  for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
    const got = await fn();
    if (got) return got;
    if (Date.now() > deadline) assert.fail(`${what}: not within ${within} ms`);
    await new Promise((resolve) => { setTimeout(resolve, delay); });
  }
}

// badlyRatedErrand: the 古韩镇 agent logs an errand and completes it, and
// its resident (a phone of this run's own, bound through the demo's
// WeChat stand-in) rates it 非常不满意, which opens a follow-up.
async function badlyRatedErrand({ residentName = '申秀英', description = '代办养老资格认证', comment = '跑了两趟才办好' } = {}) {
  const agent = as(AGENT);
  const { errandTypes } = await agent.get('/v1/errandTypes', { pageSize: 100 });
  const type = errandTypes.find((t) => t.active) ?? errandTypes[0];
  const residentPhone = `139${randomInt(10_000_000, 99_999_999)}`;
  let errand = await agent.post('/v1/errands', {
    errandType: type.name, residentName, residentPhone, description, channel: 'ERRAND_CHANNEL_HOME_VISIT',
  }, { requestId: randomUUID() });
  errand = await agent.post(`/v1/${errand.name}:start`, { etag: errand.etag });
  errand = await agent.post(`/v1/${errand.name}:complete`, { result: '已办结，证件已送达', requestId: randomUUID() });

  const resident = await request('POST', '/v1/residents:wechatLogin', { body: { code: `demo-walk-${randomUUID()}` } });
  const token = resident.accessToken;
  await request('POST', '/v1/residents/me:bindPhone', { token, body: { phoneCode: `phone-${residentPhone}` } });
  const mine = await request('GET', '/v1/residents/me/errands', { token });
  assert.equal(mine.errands.length, 1, JSON.stringify(mine));
  await request('POST', `/v1/${mine.errands[0].name}:rate`, { token, body: { level: 'RATING_LEVEL_VERY_DISSATISFIED', comment } });

  const followUp = await eventually('the bad rating opens a follow-up', async () => {
    const { followUps } = await as(SECRETARY).get(`/v1/regions/${GUHAN}/followUps`, { openOnly: true, pageSize: 500 });
    return followUps.find((f) => f.errand === errand.name);
  });
  return { errand, followUp, residentPhone };
}

// ------------------------------------------------------------ the browser

let browser;
before(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
});
after(async () => {
  await browser?.close();
});

// walk is a test with its own contexts: open() makes one (a fresh
// context and page) and watches it for dialogs, uncaught errors and CSP
// violations, which fail the test once it has run; the contexts close
// afterwards, and on a failure the test's log names what was on screen.
function walk(name, fn, opts = {}) {
  test(name, { timeout: 90_000, ...opts }, async (t) => {
    const opened = [];
    const open = async ({ viewport = DESKTOP } = {}) => {
      const context = await browser.newContext({ viewport, locale: 'zh-CN', timezoneId: 'Asia/Shanghai', acceptDownloads: true });
      context.setDefaultTimeout(15_000);
      const problems = [];
      await context.exposeFunction('__walkCsp', (msg) => { problems.push(`securitypolicyviolation: ${msg}`); });
      await context.addInitScript(() => {
        document.addEventListener('securitypolicyviolation', (e) => {
          window.__walkCsp(`${e.violatedDirective} blocked ${e.blockedURI || '(inline)'} at ${e.sourceFile}:${e.lineNumber} ${e.sample || ''}`);
        });
      });
      // Every page of the context is watched: a tab the console opens too.
      context.on('page', (page) => {
        page.on('dialog', (d) => {
          problems.push(`dialog (${d.type()}): ${d.message()}`);
          d.dismiss().catch(() => {});
        });
        page.on('pageerror', (err) => { problems.push(`uncaught: ${err.message}`); });
        page.on('console', (m) => {
          if (/content security policy/i.test(m.text())) problems.push(`console: ${m.text()}`);
        });
      });
      const page = await context.newPage();
      opened.push({ context, page, problems });
      return page;
    };
    try {
      await fn({ open, t });
    } catch (err) {
      for (const page of opened.flatMap(({ context }) => context.pages())) {
        const seen = await page.evaluate(() => `${location.hash} | ${document.getElementById('main')?.innerText.slice(0, 600)}`).catch(() => '(closed)');
        t.diagnostic(`on screen: ${seen.replace(/\s+/g, ' ')}`);
      }
      throw err;
    } finally {
      for (const { context } of opened) await context.close().catch(() => {});
    }
    for (const { problems } of opened) assert.deepEqual(problems, [], 'no dialog, uncaught error or CSP violation');
  });
}

// A view is drawn into a detached node that replaces #main's content when
// it is ready. markStale tags what is there now; fresh waits for a new
// view (untagged) that has or is `selector`, with #main no longer busy.
async function markStale(page) {
  await page.evaluate(() => {
    for (const c of document.getElementById('main').children) c.dataset.walkStale = '';
  });
}

// A view that fails (an error panel where `selector` was expected) fails
// at once, with its message.
async function fresh(page, selector) {
  const got = await page.waitForFunction((sel) => {
    const main = document.getElementById('main');
    if (main.hasAttribute('aria-busy')) return false;
    const view = [...main.children].find((c) => !('walkStale' in c.dataset) && !c.classList.contains('loading'));
    if (!view) return false;
    if (view.matches(sel) || view.querySelector(sel)) return 'ok';
    const failed = view.matches('.notice.error') ? view : view.querySelector(':scope > .notice.error');
    return failed ? `an error panel instead of ${sel}: ${failed.textContent}` : false;
  }, selector);
  const verdict = await got.jsonValue();
  assert.equal(verdict, 'ok', `${verdict} (at ${page.url()})`);
}

// visit goes to a view by its hash and waits for it (there already, it
// waits for the view on screen).
async function visit(page, hash, selector = 'h1') {
  if (await page.evaluate((h) => location.hash === h, hash)) return fresh(page, selector);
  await markStale(page);
  await page.evaluate((h) => { location.hash = h; }, hash);
  await fresh(page, selector);
}

// signIn opens the console (at `hash`, which the login sends you back
// to), and logs in through the form.
async function signIn(page, phone, { hash = '', ready = 'h1' } = {}) {
  await page.goto(consoleUrl + hash);
  await page.locator('form.login').waitFor();
  await markStale(page);
  await page.getByLabel('手机号').fill(phone);
  await page.getByLabel('密码').fill(PASSWORD);
  await page.getByRole('button', { name: '登录' }).click();
  await fresh(page, ready);
  assert.equal(await page.locator('#top').isVisible(), true, 'the menu shows once signed in');
}

// -------------------------------------------------------------- figures

const shanghaiDate = () => new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(new Date());
const currentMonth = () => shanghaiDate().slice(0, 7);
// currentWeek is the ISO 8601 week of Shanghai's today: the week of its Thursday.
function currentWeek() {
  const d = new Date(`${shanghaiDate()}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + 3 - ((d.getUTCDay() + 6) % 7));
  const year = d.getUTCFullYear();
  const week = Math.floor((d - Date.UTC(year, 0, 1)) / 86_400_000 / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

const KPI_KEYS = ['received', 'completed', 'inProgress', 'overdue', 'onTimeRate', 'satisfactionRate', 'openFollowUps'];
const count = (n) => (n ?? 0).toLocaleString('zh-CN');
const share = (x, of) => (of ? `${((x ?? 0) * 100).toFixed(1)}%` : '—');

// cardsOf is how the overview's seven cards should read for a Workload total.
function cardsOf(total) {
  return {
    received: count(total.received),
    completed: count(total.completed),
    inProgress: count(total.inProgress),
    overdue: count(total.overdue),
    onTimeRate: share(total.onTimeRate, total.completed),
    satisfactionRate: share(total.satisfactionRate, total.ratings),
    openFollowUps: count(total.openFollowUps),
  };
}

const readCards = (page) => page.$$eval('#main [data-kpi]', (els) =>
  Object.fromEntries(els.map((e) => [e.dataset.kpi, e.querySelector('.kpi-value').textContent.trim()])));

// assertCards: the cards show the API's figures, read just before or just
// after the page (a current count may move in between).
async function assertCards(page, reference) {
  const before = cardsOf((await reference()).total);
  const shown = await readCards(page);
  assert.deepEqual(Object.keys(shown), KPI_KEYS, 'the seven cards, in order');
  if (JSON.stringify(shown) === JSON.stringify(before)) return;
  assert.deepEqual(shown, cardsOf((await reference()).total), 'the cards show the API\'s figures');
}

const columnOf = (page, key) => page.$$eval(`#main tbody td[data-col="${key}"]`, (tds) => tds.map((td) => Number(td.textContent.replace(/[,\s]/g, ''))));

function assertSorted(values, dir, what) {
  for (let i = 1; i < values.length; i++) {
    assert.ok(dir === 'asc' ? values[i - 1] <= values[i] : values[i - 1] >= values[i], `${what} ${dir}: ${values.join(' ')}`);
  }
}

// xlsx: an Office Open XML workbook is a zip whose central directory
// names xl/workbook.xml.
function assertXlsx(bytes, what) {
  assert.ok(bytes.length > 100, `${what}: ${bytes.length} bytes`);
  assert.equal(bytes.subarray(0, 4).toString('latin1'), 'PK\x03\x04', `${what} is a zip`);
  const eocd = bytes.lastIndexOf(Buffer.from('PK\x05\x06', 'latin1'));
  assert.ok(eocd > 0, `${what} has a zip's end of central directory`);
  const entries = bytes.readUInt16LE(eocd + 10);
  let at = bytes.readUInt32LE(eocd + 16);
  const names = [];
  for (let i = 0; i < entries; i++) {
    assert.equal(bytes.readUInt32LE(at), 0x02014b50, `${what}: a central directory entry`);
    const nameLen = bytes.readUInt16LE(at + 28), extraLen = bytes.readUInt16LE(at + 30), commentLen = bytes.readUInt16LE(at + 32);
    names.push(bytes.subarray(at + 46, at + 46 + nameLen).toString('utf8'));
    at += 46 + nameLen + extraLen + commentLen;
  }
  assert.ok(names.includes('xl/workbook.xml'), `${what} holds xl/workbook.xml: ${names.join(', ')}`);
  assert.ok(names.includes('[Content_Types].xml'), `${what} holds [Content_Types].xml`);
}

async function downloaded(page, click) {
  const [download] = await Promise.all([page.waitForEvent('download'), click()]);
  const path = await download.path();
  return { name: download.suggestedFilename(), bytes: await readFile(path) };
}

// ------------------------------------------------------------------ walks

describe('a. 古韩镇 secretary: figures, charts, sorting, drilling, overdue, an errand', () => {
  walk('the overview\'s seven figures are the API\'s, for this month and for this week', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    assert.match(page.url(), new RegExp(`#/overview/${GUHAN}$`), 'a secretary starts on the township\'s overview');
    assert.equal(await page.locator('#main h1').textContent(), '古韩镇 · 工作概览');
    const month = currentMonth();
    await assertCards(page, () => as(SECRETARY).get(`/v1/regions/${GUHAN}/workload`, { period: month }));
    assert.match(await page.locator('#main .period-label').textContent(), new RegExp(`${Number(month.slice(0, 4))}年${Number(month.slice(5))}月`));

    const week = currentWeek();
    await visit(page, `#/overview/${GUHAN}?period=${week}`, '.kpis');
    const weekly = () => as(SECRETARY).get(`/v1/regions/${GUHAN}/workload`, { period: week });
    assert.equal((await weekly()).period, week);
    await assertCards(page, weekly);
    assert.match(await page.locator('#main .period-label').textContent(), new RegExp(`第${Number(week.slice(6))}周`));
  });

  // waitForCharts waits for the view's charts: an ECharts instance with a
  // canvas on each box.
  const waitForCharts = (page, n) => page.waitForFunction((want) => {
    const boxes = [...document.querySelectorAll('#main .chart-box')];
    return boxes.length === want && window.echarts && boxes.every((b) => window.echarts.getInstanceByDom(b) && b.querySelector('canvas'));
  }, n);

  walk('the charts draw: ECharts instances on canvases with ink', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    await waitForCharts(page, 2);
    const ink = await page.$$eval('#main .chart-box', (boxes) => boxes.map((b) => Math.max(...[...b.querySelectorAll('canvas')].map((c) => {
      if (!c.width || !c.height) return 0;
      const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
      return n;
    }))));
    assert.equal(ink.length, 2);
    for (const [i, n] of ink.entries()) assert.ok(n > 500, `chart ${i} has drawn pixels (${n})`);
    const described = await page.$$eval('#main .chart-box', (boxes) => boxes.map((b) => b.getAttribute('role') === 'img' && !!b.getAttribute('aria-label')));
    assert.deepEqual(described, [true, true], 'each chart is an image with a description');
  });

  walk('each chart keeps the console\'s description for screen readers', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    await waitForCharts(page, 2);
    const labels = await page.$$eval('#main .chart-box', (boxes) => boxes.map((b) => b.getAttribute('aria-label')));
    assert.deepEqual(labels, ['近12周受理、办结趋势', '按代办点的受理、办结']);
  });

  walk('hovering a chart shows its tooltip within the CSP', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    await waitForCharts(page, 2);
    const chart = page.locator('#main .chart-box').first();
    const box = await chart.boundingBox();
    await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2);
    // The axis tooltip lists the series of the week under the pointer: as
    // HTML in the chart's box, or drawn on the canvas (renderMode
    // richText), where it is a second 按时率 besides the legend's.
    await page.waitForFunction(() => {
      const c = window.echarts.getInstanceByDom(document.querySelector('#main .chart-box'));
      const drawn = c.getZr().storage.getDisplayList(true).filter((el) => String(el.style?.text ?? '').includes('按时率'));
      return c.getDom().innerText.includes('按时率') || drawn.length >= 2;
    });
  });

  walk('the agent table sorts by a column header, and the URL carries the sort', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: `#/overview/${GUHAN}?by=AGENT`, ready: '.kpis' });
    const api = await as(SECRETARY).get(`/v1/regions/${GUHAN}/workload`, { period: currentMonth(), groupBy: 'AGENT' });
    const apiReceived = api.rows.map((r) => r.received ?? 0).sort((a, b) => a - b);
    assert.ok(apiReceived.at(0) < apiReceived.at(-1), 'the demo\'s agents differ in errands received');
    assert.equal(await page.locator('#main caption').textContent(), '按代办员');

    let shown = await columnOf(page, 'received');
    assert.deepEqual([...shown].sort((a, b) => a - b), apiReceived, 'one row per agent, with the API\'s figures');
    assertSorted(shown, 'desc', 'received');

    await markStale(page);
    await page.locator('#main th button.sort[data-sort="received"]').click();
    await fresh(page, 'th[aria-sort="ascending"] button.sort[data-sort="received"]');
    assert.match(page.url(), /[?&]sort=received(&|$)/);
    assert.match(page.url(), /[?&]dir=asc(&|$)/);
    shown = await columnOf(page, 'received');
    assertSorted(shown, 'asc', 'received');
    assert.deepEqual(shown, [...apiReceived], 'ascending, as the API\'s figures sorted');

    await markStale(page);
    await page.locator('#main th button.sort[data-sort="completed"]').click();
    await fresh(page, 'th[aria-sort="descending"] button.sort[data-sort="completed"]');
    assert.match(page.url(), /[?&]sort=completed&dir=desc/);
    assertSorted(await columnOf(page, 'completed'), 'desc', 'completed');
  });

  walk('drilling: a service point\'s overview, and back up by the 古韩镇 breadcrumb', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    assert.equal(await page.locator('#main caption').textContent(), '按代办点', 'a township is grouped by service point');
    const link = page.locator('#main tbody td:first-child a').first();
    const pointName = (await link.textContent()).trim();
    assert.match(await link.getAttribute('href'), /^#\/point\/\d+/);

    await markStale(page);
    await link.click();
    await fresh(page, '.kpis');
    assert.equal(await page.locator('#main h1').textContent(), `${pointName} · 工作概览`);
    const crumbs = await page.locator('#main nav.crumbs li').allTextContents();
    assert.equal(crumbs[0], '古韩镇', `breadcrumbs: ${crumbs.join(' › ')}`);
    assert.equal(crumbs.at(-1), pointName);
    assert.match(page.url(), /#\/overview\/\d{12}\?.*point=\d+/, 'the point\'s overview is its village\'s, named in the URL');
    const village = /#\/overview\/(\d{12})/.exec(page.url())[1];
    assert.ok(village.startsWith(GUHAN.slice(0, 9)) && village !== GUHAN, `${village} is a village of 古韩镇`);
    await assertCards(page, () => as(SECRETARY).get(`/v1/regions/${village}/workload`, { period: currentMonth(), groupBy: 'AGENT' }));

    await markStale(page);
    await page.locator('#main nav.crumbs a', { hasText: '古韩镇' }).click();
    await fresh(page, '.kpis');
    assert.equal(await page.locator('#main h1').textContent(), '古韩镇 · 工作概览');
    assert.match(page.url(), new RegExp(`#/overview/${GUHAN}(\\?|$)`));
  });

  walk('the overdue list: the API\'s total, most overdue first; an errand\'s history and its full phone, audited', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: '#/overdue', ready: '[data-total]' });
    const api = await as(SECRETARY).get(`/v1/regions/${GUHAN}/overdueErrands`, { pageSize: 50 });
    assert.ok(api.totalSize > 0, 'the demo has overdue errands in 古韩镇');
    assert.equal(Number(await page.locator('#main p[data-total]').getAttribute('data-total')), api.totalSize);
    assert.match(await page.locator('#main p[data-total]').textContent(), new RegExp(`当前超期 ${api.totalSize} 件`));
    const days = await columnOf(page, 'overdueWorkingDays');
    assert.equal(days.length, Math.min(api.totalSize, 50));
    assertSorted(days, 'desc', 'overdue working days');
    assert.equal(days[0], Math.max(...api.overdueErrands.map((e) => e.overdueWorkingDays)), 'the most overdue first');
    const codes = await page.locator('#main tbody td:first-child a').allTextContents();
    assert.deepEqual(codes, api.overdueErrands.map((e) => e.trackingCode), 'in the API\'s order');

    const first = api.overdueErrands[0];
    const id = first.errand.split('/').pop();
    await markStale(page);
    await page.locator('#main tbody a', { hasText: first.trackingCode }).click();
    await fresh(page, 'section.errand');
    assert.match(page.url(), new RegExp(`#/errand/${id}\\?from=${GUHAN}$`));
    const { events } = await as(SECRETARY).get(`/v1/${first.errand}/events`, { pageSize: 500 });
    assert.ok(events.length > 0);
    assert.equal(await page.locator('#main ol.timeline li').count(), events.length, 'one line per event');
    assert.deepEqual(await page.locator('#main ol.timeline li strong').allTextContents(), events.map((e) => e.displayText));

    const phone = page.locator('#main dd[data-field="residentPhone"]');
    const masked = (await phone.textContent()).trim();
    assert.match(masked, /^1\d{2}\*{4}\d{4}$/, 'the phone is masked');
    const audited = async () => (await as(COUNTY_ADMIN).get(`/v1/regions/${XIANGYUAN}/auditEntries`, { filter: 'unmasked_read = true', pageSize: 500 }))
      .auditEntries.filter((a) => a.resource === first.errand);
    const auditedBefore = (await audited()).length;

    await page.getByRole('button', { name: /查看完整个人信息/ }).click();
    await page.locator('#main p.notice.info[role="status"]', { hasText: '审计' }).waitFor();
    const full = (await phone.textContent()).trim();
    assert.match(full, /^1\d{10}$/, 'the full phone');
    assert.equal(`${full.slice(0, 3)}****${full.slice(-4)}`, masked, 'the same phone');
    assert.equal(await page.getByRole('button', { name: /查看完整个人信息/ }).count(), 0);

    const secretary = (await apiSession(SECRETARY)).user.name;
    const entries = await eventually('the county admin sees the full read in the audit log', async () => {
      const now = await audited();
      return now.length > auditedBefore && now;
    });
    assert.equal(entries[0].actor, secretary);
    assert.equal(entries[0].unmaskedRead, true);
  });
});

describe('b. follow-ups', () => {
  walk('closing a follow-up: one fewer open, shown under 已回访 with its note, and in the errand\'s history', async ({ open }) => {
    const { errand, followUp } = await badlyRatedErrand({ comment: '材料来回跑了三趟' });
    const page = await open();
    await signIn(page, SECRETARY, { hash: '#/followups', ready: '[data-open-count]' });
    const openCount = () => page.locator('#main strong[data-open-count]').getAttribute('data-open-count').then(Number);
    const { followUps } = await as(SECRETARY).get(`/v1/regions/${GUHAN}/followUps`, { openOnly: true, pageSize: 500 });
    const before = await openCount();
    assert.equal(before, followUps.length, 'the API\'s open follow-ups');
    assert.equal(await page.locator('#main strong[data-open-count]').textContent(), String(before));

    const card = page.locator(`#main li.followup[data-name="${followUp.name}"]`);
    assert.equal(await card.locator('.badge').textContent(), '待回访');
    assert.equal(await card.locator('blockquote.comment').textContent(), '材料来回跑了三趟');
    await card.getByRole('button', { name: '登记回访' }).click();
    const note = `已电话回访 ${randomUUID().slice(0, 8)}，解释了办理时限`;
    await card.getByLabel('回访结果').selectOption('EXPLAINED');
    await card.getByLabel('回访记录').fill(note);
    await markStale(page);
    await card.getByRole('button', { name: '确认办结' }).click();
    await fresh(page, '[data-open-count]');
    assert.deepEqual(await page.locator('#main .notice.info').allTextContents(), [`已登记 ${errand.trackingCode} 的回访。`], 'the close is confirmed');
    assert.equal(await openCount(), before - 1, 'one fewer open');
    const workload = await as(SECRETARY).get(`/v1/regions/${GUHAN}/workload`);
    assert.equal(workload.total.openFollowUps, before - 1, 'the API agrees');

    const closed = page.locator(`#main h2:text-is("已回访") + ul li.followup[data-name="${followUp.name}"]`);
    assert.equal(await closed.count(), 1, 'it shows under 已回访');
    assert.equal(await closed.evaluate((li) => li.classList.contains('open')), false);
    assert.equal(await closed.locator('.badge').textContent(), '已回访');
    assert.equal(await closed.locator('p.note').textContent(), `回访记录：${note}`);
    assert.equal(await page.locator(`#main h2:text-is("待回访") + ul li[data-name="${followUp.name}"]`).count(), 0);

    await markStale(page);
    await closed.locator('a', { hasText: errand.trackingCode }).click();
    await fresh(page, 'section.errand');
    const { events } = await as(SECRETARY).get(`/v1/${errand.name}/events`, { pageSize: 500 });
    const closeEvent = events.find((e) => e.kind === 'ERRAND_EVENT_KIND_FOLLOW_UP_CLOSED');
    assert.ok(closeEvent, `the history has the close: ${JSON.stringify(events.map((e) => e.kind))}`);
    assert.equal(await page.locator('#main ol.timeline li').count(), events.length);
    const line = page.locator('#main ol.timeline li').filter({ hasText: note });
    assert.equal(await line.count(), 1, 'the close, with its note, in the history');
    assert.equal(await line.locator('strong').textContent(), closeEvent.displayText);
  });
});

describe('b2. disputes', () => {
  walk('the secretary reopens an errand from its follow-up: back to 办理中 with a new due time, in its history', async ({ open }) => {
    const { errand, followUp } = await badlyRatedErrand({ comment: '证明没有拿到' });
    const page = await open();
    await signIn(page, SECRETARY, { hash: '#/followups', ready: '[data-open-count]' });
    const card = page.locator(`#main li.followup[data-name="${followUp.name}"]`);
    await card.getByRole('button', { name: '重新办理' }).click();
    // A blank reason is the API's field violation, shown by the field; nothing changes.
    await card.getByLabel('重新办理原因').fill('   ');
    await card.getByRole('button', { name: '确认重新办理' }).click();
    const violation = card.locator('.violation[data-for="reason"]:not(:empty)');
    await violation.waitFor();
    assert.match(await violation.textContent(), /原因/);
    assert.equal((await as(SECRETARY).get(`/v1/${errand.name}`)).state, 'ERRAND_STATE_COMPLETED', 'nothing reopened yet');

    const reason = `回访核实：证明未实际开具 ${randomUUID().slice(0, 8)}`;
    await card.getByLabel('重新办理原因').fill(reason);
    await markStale(page);
    await card.getByRole('button', { name: '确认重新办理' }).click();
    await fresh(page, '[data-open-count]');
    const now = await as(SECRETARY).get(`/v1/${errand.name}`);
    assert.equal(now.state, 'ERRAND_STATE_IN_PROGRESS');
    assert.equal(now.reopenCount, 1);
    assert.ok(new Date(now.dueTime) > new Date(), 'a new due time ahead');
    const said = await page.locator('#main .notice.info').allTextContents();
    assert.equal(said.length, 1);
    assert.match(said[0], new RegExp(`^已重新打开 ${errand.trackingCode}，请代办员于 .+ 前重新办结。$`));

    const { events } = await as(SECRETARY).get(`/v1/${errand.name}/events`, { pageSize: 500 });
    const reopened = events.filter((e) => e.kind === 'ERRAND_EVENT_KIND_REOPENED');
    assert.equal(reopened.length, 1, 'one reopening');
    assert.ok(reopened[0].note.includes(reason) && reopened[0].note.includes(followUp.name), reopened[0].note);

    // Reopened, it is no longer completed: a second reopening is the API's refusal, said in Chinese.
    await card.getByRole('button', { name: '重新办理' }).click();
    await card.getByLabel('重新办理原因').fill('再次核实');
    await card.getByRole('button', { name: '确认重新办理' }).click();
    const refusal = card.locator('.form-error:not(:empty)');
    await refusal.waitFor();
    assert.match(await refusal.textContent(), /[\u4e00-\u9fff]/, 'a Chinese message');
    assert.equal((await as(SECRETARY).get(`/v1/${errand.name}`)).reopenCount, 1, 'still one');
  });

  walk('only the township secretary is offered 重新办理', async ({ open }) => {
    const page = await open();
    await signIn(page, COUNTY_ADMIN, { hash: `#/followups/${GUHAN}`, ready: '[data-open-count]' });
    assert.ok(await page.locator('#main li.followup').count() > 0, 'follow-ups listed');
    assert.equal(await page.getByRole('button', { name: '重新办理' }).count(), 0);
  });
});

describe('c. downloads', () => {
  walk('the overview\'s Excel export and a report snapshot download as workbooks', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    const excel = await downloaded(page, () => page.locator('#main .head').getByRole('button', { name: '导出 Excel' }).click());
    assert.match(excel.name, /\.xlsx$/);
    assert.match(excel.name, /古韩镇/);
    assertXlsx(excel.bytes, 'the export');

    await visit(page, '#/reports', 'h1');
    const { reportSnapshots } = await as(SECRETARY).get(`/v1/regions/${GUHAN}/reportSnapshots`, { pageSize: 100 });
    assert.ok(reportSnapshots.length > 0, 'the demo has stored reports');
    assert.equal(await page.locator('#main tbody tr').count(), reportSnapshots.length);
    const snap = reportSnapshots[0];
    const row = page.locator('#main tbody tr').filter({ hasText: snap.fileName });
    const file = await downloaded(page, () => row.getByRole('button', { name: '下载' }).click());
    assert.equal(file.name, snap.fileName);
    assert.equal(file.bytes.length, Number(snap.sizeBytes), 'the stored size');
    assertXlsx(file.bytes, snap.fileName);
  });
});

describe('d. scopes', () => {
  walk('a secretary typing 丹朱镇\'s address sees 无权限 and none of its figures', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    await visit(page, `#/overview/${DANZHU}`, '.denied');
    assert.match(await page.locator('#main .denied').textContent(), /无权限/);
    assert.equal(await page.locator('#main .kpi').count(), 0, 'no cards');
    assert.equal(await page.locator('#main table, #main canvas, #main .chart-box').count(), 0, 'no table, no chart');
    await assert.rejects(as(SECRETARY).get(`/v1/regions/${DANZHU}/workload`), (err) => err.status === 403);
  });

  walk('a secretary\'s board is 襄垣县\'s townships, with 古韩镇 marked as theirs', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: '#/leaderboard', ready: 'table' });
    assert.equal(await page.locator('#main h1').textContent(), '太行先锋 · 襄垣县');
    const board = await as(SECRETARY).get(`/v1/regions/${XIANGYUAN}/leaderboard`, { level: 'TOWNSHIP', period: currentMonth(), orderBy: 'total', pageSize: 500 });
    assert.equal(board.entries.length, 9);
    const rows = page.locator('#main tbody tr');
    assert.equal(await rows.count(), 9);
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.member)), board.entries.map((e) => e.member), 'in the API\'s order');
    const mine = page.locator('#main tbody tr.mine');
    assert.equal(await mine.count(), 1, 'one row is the secretary\'s own');
    assert.equal(await mine.getAttribute('data-member'), `regions/${GUHAN}`);
    const own = board.entries.find((e) => e.member === `regions/${GUHAN}`);
    assert.equal(Number(await mine.locator('td').first().textContent()), own.rank);
  });

  walk('襄垣县\'s admin sees its 9 townships', async ({ open }) => {
    const page = await open();
    await signIn(page, COUNTY_ADMIN, { ready: '.kpis' });
    assert.match(page.url(), new RegExp(`#/overview/${XIANGYUAN}$`));
    const api = await as(COUNTY_ADMIN).get(`/v1/regions/${XIANGYUAN}/workload`, { period: currentMonth(), groupBy: 'CHILD_REGION' });
    assert.equal(api.rows.length, 9);
    assert.equal(await page.locator('#main caption').textContent(), '按下级区域');
    const names = await page.locator('#main tbody td:first-child').allTextContents();
    assert.equal(names.length, 9, 'nine townships');
    assert.deepEqual([...names].sort(), api.rows.map((r) => r.displayName).sort());
    assert.ok(names.includes('古韩镇'));
    await assertCards(page, () => as(COUNTY_ADMIN).get(`/v1/regions/${XIANGYUAN}/workload`, { period: currentMonth() }));
  });

  walk('the city admin sees the 12 counties, and the city board with rank changes', async ({ open }) => {
    const page = await open();
    await signIn(page, CITY_ADMIN, { ready: '.kpis' });
    assert.match(page.url(), new RegExp(`#/overview/${CHANGZHI}$`));
    assert.equal(await page.locator('#main tbody tr').count(), 12, 'twelve counties');
    assert.ok((await page.locator('#main tbody td:first-child').allTextContents()).includes('襄垣县'));

    await visit(page, '#/leaderboard', 'h1');
    assert.equal(await page.locator('#main h1').textContent(), '太行先锋 · 长治市');
    const board = await as(CITY_ADMIN).get(`/v1/regions/${CHANGZHI}/leaderboard`, { level: 'COUNTY', period: currentMonth(), orderBy: 'total', pageSize: 500 });
    assert.equal(board.entries.length, 12);
    assert.equal(await page.locator('#main tbody tr').count(), 12, 'twelve counties on the board');
    const arrows = board.entries.map((e) => {
      const c = e.rankChange ?? 0;
      if (c > 0) return `▲${c}`;
      if (c < 0) return `▼${-c}`;
      return '—';
    });
    assert.ok(arrows.some((a) => a !== '—'), 'the demo has rank changes');
    assert.deepEqual(await page.locator('#main tbody td[data-col="rankChange"]').allTextContents(), arrows);
    assert.ok(await page.locator('#main tbody td[data-col="rankChange"] .up, #main tbody td[data-col="rankChange"] .down').count() > 0);
  });
});

describe('e. what agents and residents type stays text', () => {
  walk('an errand, a comment and an account named like markup: no dialog, no CSP violation, shown literally on every screen', async ({ open }) => {
    const name = '<img src=x onerror=alert(1)>';
    const description = '<script>alert(2)</script>';
    const run = randomUUID().slice(0, 8); // a demo walked before holds others like them
    const comment = `<svg onload=alert(3)>差评 ${run}`;
    const { errand } = await badlyRatedErrand({ residentName: name, description, comment });
    const { servicePoints } = await as(SECRETARY).get('/v1/servicePoints', { parent: `regions/${GUHAN}`, pageSize: 10 });
    const agentName = `<b onmouseover=alert(4)>代办员 ${run}`;
    await as(SECRETARY).post('/v1/users', {
      user: { phone: `137${randomInt(10_000_000, 99_999_999)}`, displayName: agentName, role: 'ROLE_AGENT', servicePoint: servicePoints[0].name },
      password: 'walk-password-1',
    });

    const page = await open();
    await signIn(page, SECRETARY, { ready: '.kpis' });
    const id = errand.name.split('/').pop();
    for (const [hash, ready] of [
      [`#/overview/${GUHAN}?by=AGENT`, '.kpis'], [`#/overview/${GUHAN}?by=ERRAND_TYPE`, '.kpis'], ['#/overdue', '[data-total]'],
      ['#/followups', '[data-open-count]'], ['#/leaderboard', 'h1'], ['#/reports', 'h1'], ['#/accounts', 'table'], [`#/errand/${id}`, 'section.errand'],
    ]) {
      await visit(page, hash, ready);
      assert.equal(await page.locator('#main img, #main script, #main svg, #main b').count(), 0, `${hash}: no element from typed text`);
    }
    const facts = page.locator('#main dl.facts');
    assert.ok((await facts.textContent()).includes(name), 'the name, literally');
    assert.ok((await facts.textContent()).includes(description), 'the description, literally');

    await visit(page, '#/followups', '[data-open-count]');
    assert.equal(await page.locator(`#main li[data-name] blockquote.comment`, { hasText: comment }).count(), 1, 'the comment, literally');
    await visit(page, '#/accounts', 'table');
    assert.equal(await page.locator('#main tbody td', { hasText: agentName }).count(), 1, 'the account\'s name, literally');
    await page.locator('#main tbody td', { hasText: agentName }).hover();
  });
});

describe('f. viewports', () => {
  const screens = [
    [`#/overview/${GUHAN}`, '.kpis'], [`#/overview/${GUHAN}?by=AGENT`, '.kpis'], ['#/overdue', '[data-total]'], ['#/followups', '[data-open-count]'],
    ['#/leaderboard', 'h1'], ['#/reports', 'h1'], ['#/accounts', 'table'],
  ];
  for (const [label, viewport] of [['phone', PHONE], ['desktop', DESKTOP]]) {
    walk(`${label} ${viewport.width}×${viewport.height}: no screen scrolls sideways${label === 'phone' ? '; the seven cards fit the first screen' : ''}`, async ({ open }) => {
      const page = await open({ viewport });
      await signIn(page, SECRETARY, { ready: '.kpis' });
      const overdue = await as(SECRETARY).get(`/v1/regions/${GUHAN}/overdueErrands`, { pageSize: 1 });
      const all = [...screens, [`#/errand/${overdue.overdueErrands[0].errand.split('/').pop()}`, 'section.errand'], ['#/login', 'x-never']];
      for (const [hash, ready] of all) {
        if (hash === '#/login') { // the login form, signed out
          await markStale(page);
          await page.locator('#logout').click();
          await fresh(page, 'form.login');
        } else {
          await visit(page, hash, ready);
        }
        if (ready === '.kpis') await page.waitForFunction(() => [...document.querySelectorAll('#main .chart-box')].every((b) => b.querySelector('canvas')));
        const { scrollWidth, innerWidth, menuTop } = await page.evaluate(() => ({
          scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
          menuTop: document.getElementById('top').hidden ? 0 : document.getElementById('top').getBoundingClientRect().top,
        }));
        assert.ok(scrollWidth <= innerWidth, `${hash}: the page is ${scrollWidth}px wide in a ${innerWidth}px window`);
        // Nothing here scrolls: a view opens at its top, the menu on screen.
        assert.equal(menuTop, 0, `${hash}: the menu is on screen`);
      }
      if (label === 'phone') {
        await signIn(page, SECRETARY, { ready: '.kpis' });
        const bottoms = await page.$$eval('#main .kpi', (cards) => cards.map((c) => c.getBoundingClientRect().bottom + window.scrollY));
        assert.equal(bottoms.length, 7);
        for (const [i, b] of bottoms.entries()) assert.ok(b <= PHONE.height, `card ${KPI_KEYS[i]} ends at ${b}px, below the first ${PHONE.height}px`);
      }
    });
  }

  walk('phone: a link low on a long list opens the next view at its top', async ({ open }) => {
    const page = await open({ viewport: PHONE });
    await signIn(page, SECRETARY, { hash: '#/followups', ready: '[data-open-count]' });
    const link = page.locator('#main li.followup a').last();
    await link.scrollIntoViewIfNeeded();
    assert.ok(await page.evaluate(() => window.scrollY) > PHONE.height, 'the list is longer than two screens');
    await markStale(page);
    await link.click();
    await fresh(page, 'section.errand');
    const { y, heading } = await page.evaluate(() => ({ y: window.scrollY, heading: document.querySelector('#main h1').getBoundingClientRect().top }));
    assert.ok(y === 0 && heading >= 0, `the errand opens scrolled ${y}px down, its heading at ${heading}px`);
  });
});

describe('g. keyboard', () => {
  // tabTo presses Tab until the focus is on `selector`, at most `max` times.
  async function tabTo(page, selector, max = 150) {
    for (let i = 0; i <= max; i++) {
      if (await page.evaluate((sel) => document.activeElement?.matches(sel) ?? false, selector)) return i;
      await page.keyboard.press('Tab');
    }
    assert.fail(`${selector} is not reached by Tab within ${max} presses`);
  }

  walk('signing in, sorting and exporting with the keyboard alone', async ({ open }) => {
    const page = await open();
    await page.goto(consoleUrl);
    await page.locator('form.login').waitFor();
    await tabTo(page, 'input[name="phone"]');
    await page.keyboard.type(SECRETARY);
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.name), 'password', 'Tab goes from the phone to the password');
    await page.keyboard.type(PASSWORD);
    await markStale(page);
    await page.keyboard.press('Enter');
    await fresh(page, '.kpis');
    assert.equal(await page.locator('#main h1').textContent(), '古韩镇 · 工作概览');

    // The export sits above the table: Tab reaches it first.
    await tabTo(page, '#main .head button');
    assert.equal(await page.evaluate(() => document.activeElement.textContent), '导出 Excel');
    const excel = await downloaded(page, () => page.keyboard.press('Enter'));
    assertXlsx(excel.bytes, 'the export by keyboard');

    await tabTo(page, '#main th button.sort[data-sort="completed"]');
    await markStale(page);
    await page.keyboard.press('Enter');
    await fresh(page, 'th[aria-sort="descending"] button.sort[data-sort="completed"]');
    assert.match(page.url(), /sort=completed&dir=desc/);
    assertSorted(await columnOf(page, 'completed'), 'desc', 'completed');
  });

  // unlabelled lists the form controls under `root` no label names.
  const unlabelled = (page, root) => page.$$eval(`${root} input, ${root} select, ${root} textarea`, (els) => els
    .filter((el) => el.type !== 'hidden')
    .filter((el) => !([...(el.labels ?? [])].some((l) => l.textContent.trim()) || el.getAttribute('aria-label')?.trim()
      || (el.getAttribute('aria-labelledby') && document.getElementById(el.getAttribute('aria-labelledby'))?.textContent.trim())))
    .map((el) => el.outerHTML));

  walk('every field of the login, the follow-up and the new-account forms has a label', async ({ open }) => {
    const page = await open();
    await page.goto(consoleUrl);
    await page.locator('form.login').waitFor();
    assert.equal(await page.locator('form.login input').count(), 2);
    assert.deepEqual(await unlabelled(page, 'form.login'), []);
    await signIn(page, SECRETARY, { ready: '.kpis' });
    assert.deepEqual(await unlabelled(page, '#main'), [], 'the overview\'s period picker');

    const { followUps } = await as(SECRETARY).get(`/v1/regions/${GUHAN}/followUps`, { openOnly: true, pageSize: 1 });
    if (!followUps.length) await badlyRatedErrand();
    await visit(page, '#/followups', '[data-open-count]');
    await page.locator('#main li.followup.open').first().getByRole('button', { name: '登记回访' }).click();
    await page.locator('#main form.close-form').waitFor();
    assert.equal(await page.locator('#main form.close-form select, #main form.close-form textarea').count(), 2);
    assert.deepEqual(await unlabelled(page, '#main form.close-form'), []);

    await visit(page, '#/accounts', 'form.create-form');
    assert.ok(await page.locator('#main form.create-form input, #main form.create-form select').count() >= 5);
    assert.deepEqual(await unlabelled(page, '#main form.create-form'), []);
  });
});

describe('h. the session', () => {
  walk('a reload keeps the session and the view; an expired one signs in again back to the view; logout ends it', async ({ open }) => {
    const page = await open();
    const view = `overview/${GUHAN}?by=AGENT&sort=completed&dir=asc`;
    await signIn(page, SECRETARY, { hash: `#/${view}`, ready: '.kpis' });
    assert.equal(new URL(page.url()).hash, `#/${view}`, 'the login returns to the view asked for');
    const token = () => page.evaluate((k) => sessionStorage.getItem(k), REFRESH_KEY);
    const first = await token();
    assert.ok(first, 'the refresh token is in sessionStorage');

    await page.reload();
    await fresh(page, '.kpis');
    assert.equal(new URL(page.url()).hash, `#/${view}`, 'the same view after a reload');
    assert.equal(await page.locator('#main th[aria-sort="ascending"] button.sort').getAttribute('data-sort'), 'completed');
    assert.equal(await page.locator('form.login').count(), 0);
    const second = await token();
    assert.ok(second && second !== first, 'the reload renewed the session with the stored refresh token');

    // Expiry: the server turns the access token down once, then the
    // refresh token too.
    let refused = 0;
    await page.route('**/v1/**', async (route) => {
      const req = route.request();
      const url = new URL(req.url());
      if (url.pathname === '/v1/auth:refresh' || (req.method() === 'GET' && refused === 0)) {
        refused++;
        await route.fulfill({ status: 401, contentType: 'application/json', headers: { 'WWW-Authenticate': 'Bearer realm="redpoint"' },
          body: JSON.stringify({ code: 16, message: '登录已过期', details: [] }) });
        return;
      }
      await route.continue();
    });
    const next = 'followups/140423100000';
    await markStale(page);
    await page.evaluate((h) => { location.hash = h; }, `#/${next}`);
    await fresh(page, 'form.login');
    assert.ok(refused >= 2, 'a GET and the refresh were refused');
    const hash = new URL(page.url()).hash;
    assert.match(hash, /^#\/login\?/);
    const q = new URLSearchParams(hash.split('?')[1]);
    assert.equal(q.get('next'), next, 'the login remembers the view');
    assert.equal(q.get('expired'), '1');
    assert.match(await page.locator('#main .notice.info').textContent(), /登录已过期/);
    assert.equal(await token(), null, 'the spent session is forgotten');
    assert.equal(await page.locator('#top').isVisible(), false);
    await page.unroute('**/v1/**');

    await markStale(page);
    await page.getByLabel('手机号').fill(SECRETARY);
    await page.getByLabel('密码').fill(PASSWORD);
    await page.getByRole('button', { name: '登录' }).click();
    await fresh(page, '[data-open-count]');
    assert.equal(new URL(page.url()).hash, `#/${next}`, 'back to the same view');

    const last = await token();
    const presented = []; // refresh tokens sent after the logout
    page.on('request', (req) => {
      if (new URL(req.url()).pathname === '/v1/auth:refresh') presented.push(req.postData());
    });
    await markStale(page);
    await page.locator('#logout').click();
    await fresh(page, 'form.login');
    assert.deepEqual(presented, [], 'a logout presents no refresh token again');
    assert.match(new URL(page.url()).hash, /^#\/login/);
    assert.equal(await token(), null, 'no token left in sessionStorage');
    assert.equal(await page.locator('#top').isVisible(), false);
    await assert.rejects(request('POST', '/v1/auth:refresh', { body: { refreshToken: last } }), (err) => err.status === 401,
      'the server revoked the session');
  });
});

describe('i. security headers', () => {
  test('the console\'s files carry a strict CSP, nosniff and DENY', async () => {
    for (const path of ['/console/', '/console/app.js', '/console/vendor/echarts.common.min.js']) {
      const res = await fetch(new URL(path, base));
      assert.equal(res.status, 200, path);
      await res.arrayBuffer();
      const csp = res.headers.get('Content-Security-Policy') ?? '';
      const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).filter((d) => d[0]).map(([k, ...v]) => [k, v]));
      assert.deepEqual(directives.get('script-src'), ["'self'"], `${path}: ${csp}`);
      assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${path}: ${csp}`);
      assert.ok(!csp.includes('unsafe-inline') && !csp.includes('unsafe-eval'), `${path}: ${csp}`);
      assert.equal(res.headers.get('X-Content-Type-Options'), 'nosniff', path);
      assert.equal(res.headers.get('X-Frame-Options'), 'DENY', path);
    }
  });
});

describe('j. review fixes', () => {
  // refreshWatch counts the context's /v1/auth:refresh requests and the
  // statuses the server answered them with.
  function refreshWatch(context) {
    const seen = { sent: 0, statuses: [] };
    context.on('request', (req) => {
      if (new URL(req.url()).pathname === '/v1/auth:refresh') seen.sent++;
    });
    context.on('response', (res) => {
      if (new URL(res.url()).pathname === '/v1/auth:refresh') seen.statuses.push(res.status());
    });
    return seen;
  }
  const storedToken = (page) => page.evaluate((k) => sessionStorage.getItem(k), REFRESH_KEY);

  walk('two tabs of one session both survive two renewals, one tab renewing at a time', async ({ open }) => {
    const page = await open();
    const context = page.context();
    await context.clock.install();
    const refreshes = refreshWatch(context);
    await signIn(page, SECRETARY, { ready: '.kpis' });

    // A second tab of the session (window.open copies sessionStorage): it
    // renews with the copied token and hands the new pair to the first.
    const [other] = await Promise.all([context.waitForEvent('page'), page.evaluate(() => { window.open(location.href); })]);
    await fresh(other, '.kpis');
    const together = async (what, spent) => eventually(what, async () => {
      if (refreshes.statuses.some((s) => s !== 200)) return true; // the assertion below names it
      const [a, b] = [await storedToken(page), await storedToken(other)];
      // …and neither tab is still renewing (the lock is free).
      const idle = (p) => p.evaluate(async () => {
        const { held, pending } = navigator.locks ? await navigator.locks.query() : { held: [], pending: [] };
        return !held.length && !pending.length;
      });
      return a && a === b && a !== spent && await idle(page) && await idle(other) && a;
    });
    let token = await together('both tabs hold the second tab\'s session', null);

    // The access token lives 15 minutes; each tab renews a minute or so
    // before it runs out (jittered), twice.
    for (const round of [1, 2]) {
      const sent = refreshes.sent;
      await context.clock.fastForward('14:30');
      token = await together(`renewal ${round}: both tabs hold the renewed session`, token);
      assert.deepEqual(refreshes.statuses.filter((s) => s !== 200), [], `renewal ${round}: the server refused no refresh`);
      assert.equal(refreshes.sent, sent + 1, `renewal ${round}: one tab renewed, the other took its session`);
    }
    await visit(page, '#/overdue', '[data-total]');
    await visit(other, '#/followups', '[data-open-count]');
    for (const p of [page, other]) assert.doesNotMatch(new URL(p.url()).hash, /^#\/login/, 'still signed in');
    assert.deepEqual(refreshes.statuses.filter((s) => s !== 200), [], 'the server refused no refresh');
    assert.ok((await request('POST', '/v1/auth:refresh', { body: { refreshToken: token } })).accessToken, 'the session family is alive');
  });

  walk('a PC clock 20 minutes fast keeps the session without renewing it over and over', async ({ open }) => {
    const page = await open();
    const context = page.context();
    await context.clock.install({ time: Date.now() + 20 * 60_000 });
    const refreshes = refreshWatch(context);
    await signIn(page, SECRETARY, { ready: '.kpis' });
    // Three minutes, a view each minute.
    for (const [hash, ready] of [['#/overdue', '[data-total]'], ['#/followups', '[data-open-count]'], [`#/overview/${GUHAN}`, '.kpis']]) {
      await context.clock.fastForward('01:00');
      await visit(page, hash, ready);
    }
    assert.doesNotMatch(new URL(page.url()).hash, /^#\/login/, 'still signed in');
    assert.ok(refreshes.sent <= 1, `${refreshes.sent} renewals in three minutes of a 15-minute token`);
  });

  walk('the city\'s service-point board lists all its entries, every one of 古韩镇\'s points marked', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: `#/leaderboard/${CHANGZHI}?level=SERVICE_POINT`, ready: 'table' });
    const query = { level: 'SERVICE_POINT', period: currentMonth(), orderBy: 'total', pageSize: 500 };
    const entries = [];
    let board;
    do {
      board = await as(SECRETARY).get(`/v1/regions/${CHANGZHI}/leaderboard`, { ...query, ...(board ? { pageToken: board.nextPageToken } : {}) });
      entries.push(...board.entries);
    } while (board.nextPageToken);
    assert.ok(board.totalSize > 500, `the demo's city has more points than a page (${board.totalSize})`);
    assert.equal(entries.length, board.totalSize);
    const rows = page.locator('#main tbody tr');
    assert.equal(await rows.count(), board.totalSize, 'every entry the API counts');
    assert.deepEqual(await rows.evaluateAll((trs) => trs.map((tr) => tr.dataset.member)), entries.map((e) => e.member), 'in the API\'s order');

    const { servicePoints } = await as(SECRETARY).get('/v1/servicePoints', { parent: `regions/${GUHAN}`, pageSize: 500 });
    const ours = entries.map((e) => e.member).filter((m) => servicePoints.some((p) => p.name === m)).sort();
    assert.ok(ours.length > 0, '古韩镇 has points on the board');
    const marked = await page.locator('#main tbody tr.mine').evaluateAll((trs) => trs.map((tr) => tr.dataset.member));
    assert.deepEqual(marked.sort(), ours, '古韩镇\'s points, and only they, are marked as the secretary\'s');
  });

  walk('Back after signing in leaves the console rather than returning to the login', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: `#/overview/${GUHAN}`, ready: '.kpis' });
    const seen = [];
    page.on('framenavigated', (frame) => { if (frame === page.mainFrame()) seen.push(frame.url()); });
    await page.goBack();
    await eventually('Back goes somewhere', () => seen.length > 0);
    assert.doesNotMatch(seen[0], /#\/login/, 'Back does not return to the login');
    await page.waitForURL('about:blank'); // where the tab was before the console
    assert.deepEqual(seen.filter((u) => /#\/login/.test(u)), [], 'the login never shows again');
  });

  walk('accounts: the region list follows the last role chosen; a new account is confirmed; deactivating asks twice', async ({ open }) => {
    const page = await open();
    // Reads of service-point lists, noted once their JSON is parsed.
    await page.context().addInitScript(() => {
      const json = Response.prototype.json;
      window.__walkPointReads = 0;
      Response.prototype.json = async function walkJson() {
        const value = await json.call(this);
        if (new URL(this.url).pathname === '/v1/servicePoints') window.__walkPointReads++;
        return value;
      };
    });
    await signIn(page, COUNTY_ADMIN, { hash: '#/accounts', ready: 'form.create-form' });
    const { regions } = await as(COUNTY_ADMIN).get('/v1/regions', { parent: `regions/${XIANGYUAN}`, pageSize: 500 });
    const townships = regions.map((r) => r.displayName).sort();
    assert.equal(townships.length, 9);
    const options = () => page.$$eval('#main form.create-form select[name="region"] option, #main form.create-form select[name="servicePoint"] option',
      (os) => os.map((o) => o.textContent).sort());
    const form = page.locator('#main form.create-form');
    const where = form.locator('.grid select').nth(1);
    await page.waitForFunction((n) => document.querySelectorAll('#main form.create-form select[name="region"] option').length === n, townships.length);

    // 代办员, whose points answer late, then 乡镇书记 at once.
    let release;
    const held = new Promise((resolve) => { release = resolve; });
    let pointRequests = 0;
    const points = (url) => url.pathname === '/v1/servicePoints';
    await page.route(points, async (route) => {
      pointRequests++;
      await held;
      await route.continue();
    });
    await form.getByLabel('角色').selectOption('ROLE_AGENT');
    await page.waitForFunction(() => document.querySelector('#main form.create-form select[name="servicePoint"]'));
    await form.getByLabel('角色').selectOption('ROLE_TOWNSHIP_SECRETARY');
    await page.waitForFunction((n) => document.querySelectorAll('#main form.create-form select[name="region"] option').length === n, townships.length);
    assert.ok(pointRequests > 0, 'the points were asked for');
    release();
    // Once the late answer is parsed, what it leads to has run (promise
    // continuations run before the next poll).
    await page.waitForFunction((n) => window.__walkPointReads >= n, pointRequests);
    await page.unroute(points);
    assert.deepEqual(await options(), townships, 'the townships, after the points came in late');
    assert.equal(await where.getAttribute('name'), 'region');
    assert.equal(await form.locator('label', { hasText: '管辖区域' }).count(), 1);

    // Creating a 乡镇书记 for 古韩镇 is confirmed.
    const phone = `136${randomInt(10_000_000, 99_999_999)}`;
    const name = `回访专员 ${randomUUID().slice(0, 6)}`;
    await form.getByLabel('姓名').fill(name);
    await form.getByLabel('手机号').fill(phone);
    await where.selectOption({ label: '古韩镇' });
    await form.getByLabel('初始密码').fill('walk-password-1');
    await markStale(page);
    const [created] = await Promise.all([
      page.waitForResponse((res) => new URL(res.url()).pathname === '/v1/users' && res.request().method() === 'POST'),
      form.getByRole('button', { name: '创建' }).click(),
    ]);
    await fresh(page, 'form.create-form');
    assert.ok(created.ok(), `the API created it: HTTP ${created.status()}`);
    const user = await created.json();
    assert.equal(user.region, `regions/${GUHAN}`);
    assert.deepEqual(await page.locator('#main .notice.info').allTextContents(), [`已创建账号：${name}（乡镇书记，${phone}）。`], 'the creation is confirmed');

    // Deactivating it: the first click only asks.
    await visit(page, `#/accounts/${GUHAN}`, 'table');
    const patches = [];
    page.on('request', (req) => { if (req.method() === 'PATCH') patches.push(req.url()); });
    const row = page.locator(`#main tbody tr[data-user="${user.name.split('/').pop()}"]`);
    await row.getByRole('button', { name: '停用' }).click();
    const confirm = row.getByRole('button', { name: '确认停用？' });
    await eventually('the first click answers', async () => patches.length || await confirm.count());
    assert.deepEqual(patches, [], 'one click sends nothing');
    assert.equal(await confirm.count(), 1, 'it asks for a second click');
    await markStale(page);
    await confirm.click();
    await fresh(page, 'table');
    assert.equal(patches.length, 1, 'the second click deactivates');
    assert.equal(await row.locator('td').nth(4).textContent(), '已停用');
    assert.equal((await as(COUNTY_ADMIN).get(`/v1/${user.name}`)).active, false);
  });
});

describe('k. the village secretary', () => {
  walk('村书记: its village\'s overview, overdue list, follow-ups and its points on 古韩镇\'s board; masked errands; no reports, accounts or other villages', async ({ open }) => {
    const me = await as(VILLAGE_SECRETARY).get('/v1/users/me');
    const village = me.region.replace('regions/', '');
    const agent = await as(AGENT).get('/v1/users/me');
    assert.equal(agent.region, me.region, 'the village of the 古韩镇 agent\'s point');
    const page = await open();
    await signIn(page, VILLAGE_SECRETARY, { ready: '.kpis' });
    assert.match(await page.locator('#who').textContent(), /（村书记）$/);
    assert.deepEqual(await page.locator('#nav a').allTextContents(), ['概览', '超期', '回访', '太行先锋'], 'no reports, audit or accounts');
    assert.match(page.url(), new RegExp(`#/overview/${village}`));
    assert.equal(await page.locator('#main .head button', { hasText: '导出 Excel' }).count(), 0, 'no export the API would refuse');
    const wl = await as(VILLAGE_SECRETARY).get(`/v1/regions/${village}/workload`, { period: currentMonth() });
    assert.equal(await page.locator('#main [data-kpi="received"] .kpi-value').textContent(), String(wl.total.received));

    await visit(page, '#/overdue', '[data-total]');
    await visit(page, '#/followups', '[data-open-count]');
    const { errands } = await as(VILLAGE_SECRETARY).get('/v1/errands', { pageSize: 1 });
    await visit(page, `#/errand/${errands[0].name.split('/').pop()}`, 'section.errand');
    assert.match(await page.locator('#main dd[data-field="residentPhone"]').textContent(), /\*{4}/, 'masked');
    assert.equal(await page.locator('#main button', { hasText: '查看完整个人信息' }).count(), 0, 'no full view the API would refuse');

    await visit(page, '#/leaderboard', 'table');
    assert.equal(await page.locator('#main h1').textContent(), '太行先锋 · 古韩镇', 'its points compete in their township');
    const board = await as(VILLAGE_SECRETARY).get(`/v1/regions/${GUHAN}/leaderboard`, { level: 'SERVICE_POINT', period: currentMonth(), orderBy: 'total', pageSize: 500 });
    const ours = board.entries.filter((e) => e.region === me.region).map((e) => e.member);
    assert.ok(ours.includes(agent.servicePoint));
    assert.deepEqual(await page.locator('#main tbody tr.mine').evaluateAll((trs) => trs.map((tr) => tr.dataset.member)), ours,
      'its village\'s points marked, and only they');

    for (const hash of ['#/accounts', '#/reports', '#/audit', `#/overview/${GUHAN}`]) {
      await visit(page, hash, '.denied');
      assert.match(await page.locator('#main .denied').textContent(), /无权限/, hash);
      assert.equal(await page.locator('#main .kpi, #main table').count(), 0, `${hash}: nothing shown`);
    }
    await assert.rejects(as(VILLAGE_SECRETARY).get(`/v1/regions/${GUHAN}/workload`), (err) => err.status === 403);
  });
});

// ------------------------------------------------------------ the files

// png encodes a width×height RGB image, paint(x, y) giving each pixel.
function png(width, height, paint) {
  const chunk = (type, data) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'latin1'), data])));
    return Buffer.concat([len, Buffer.from(type, 'latin1'), data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  const raw = Buffer.alloc((width * 3 + 1) * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) raw.set(paint(x, y), y * (width * 3 + 1) + 1 + x * 3);
  }
  return Buffer.concat([Buffer.from('\x89PNG\r\n\x1a\n', 'latin1'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// A receipt: a red header, lines of print, a red stamp.
const RECEIPT_PNG = png(180, 240, (x, y) => {
  const stamp = Math.hypot(x - 128, y - 190);
  if (y < 26 || (stamp > 24 && stamp < 30)) return [200, 16, 46];
  if (y >= 48 && y < 170 && (y - 48) % 18 < 3 && x >= 18 && x < (y % 36 ? 162 : 120)) return [110, 114, 120];
  return [255, 255, 255];
});
const SMALL_PNG = png(64, 48, (x, y) => ((x >> 3) + (y >> 3)) % 2 ? [90, 120, 160] : [230, 235, 240]);
const PDF = Buffer.from('%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n', 'latin1');

// upload: the 古韩镇 agent adds a file to an errand as the app does:
// reserve it, then PUT the bytes, without the token, to the signed URL.
async function upload(errand, kind, fileName, bytes, contentType) {
  const { uploadUri } = await as(AGENT).post(`/v1/${errand}/attachments:createUpload`, { attachment: { kind, fileName }, requestId: randomUUID() });
  assert.match(uploadUri, /^\/v1\/uploads\//);
  const res = await fetch(new URL(uploadUri, base), { method: 'PUT', headers: { 'Content-Type': contentType }, body: bytes });
  const text = await res.text();
  assert.equal(res.status, 200, `PUT ${fileName}: ${text.slice(0, 400)}`);
  const a = JSON.parse(text);
  assert.equal(a.state, 'ATTACHMENT_STATE_READY', text);
  return a;
}

// How the section shows the API's sizes and times (ui.js's size and when).
const sizeOf = (bytes) => {
  const n = Number(bytes);
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
};
const whenOf = (t) => new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
}).format(new Date(t));

const shots = join(tmpdir(), 'redpoint-console-walk');

describe('l. 材料与回执: an errand\'s files', () => {
  // A fresh errand of the 古韩镇 agent, so its list is this run's files
  // alone: a receipt (a PNG, with a thumbnail to come), a scan of a paper
  // (a PDF, never a thumbnail) and a photo named like markup.
  let errand, receipt, scan, mistake, id;
  const section = '#main section.attachments';
  before(async () => {
    const agent = as(AGENT);
    const { errandTypes } = await agent.get('/v1/errandTypes', { pageSize: 100 });
    const type = errandTypes.find((t) => t.active) ?? errandTypes[0];
    errand = await agent.post('/v1/errands', {
      errandType: type.name, residentName: '郝桂兰', residentPhone: `139${randomInt(10_000_000, 99_999_999)}`,
      description: '代办社保卡补办', channel: 'ERRAND_CHANNEL_WALK_IN',
    }, { requestId: randomUUID() });
    id = errand.name.split('/').pop();
    const mine = await agent.get('/v1/errands', { pageSize: 50 });
    assert.ok(mine.errands.some((e) => e.name === errand.name), 'an errand of the agent\'s');
    receipt = await upload(errand.name, 'ATTACHMENT_KIND_RECEIPT', '回执.png', RECEIPT_PNG, 'image/png');
    scan = await upload(errand.name, 'ATTACHMENT_KIND_MATERIAL', '户口本首页.pdf', PDF, 'application/pdf');
    mistake = await upload(errand.name, 'ATTACHMENT_KIND_OTHER', '<img src=x onerror=alert(5)>.png', SMALL_PNG, 'image/png');
    await mkdir(shots, { recursive: true });
  });

  const fileOf = (page, a) => page.locator(`${section} li.file[data-name="${a.name}"]`);

  // shownAsListed: the section lists the API's attachments, in its order,
  // each with its kind, name, size, uploader and time.
  async function shownAsListed(page, attachments) {
    assert.deepEqual(await page.locator(`${section} li.file`).evaluateAll((lis) => lis.map((li) => li.dataset.name)),
      attachments.map((a) => a.name), 'the API\'s attachments, oldest first');
    assert.doesNotMatch(await page.locator(section).innerText(), /\b(null|undefined|NaN)\b/, 'no missing value shown');
    for (const a of attachments) {
      const li = fileOf(page, a);
      assert.equal(await li.locator('.badge.kind').textContent(), a.kindDisplayName);
      assert.equal(await li.locator('.file-name').textContent(), a.fileName);
      assert.equal(await li.locator('[data-field="size"]').textContent(), sizeOf(a.sizeBytes));
      assert.equal(await li.locator('[data-field="uploader"]').textContent(), a.uploaderDisplayName);
      assert.equal(await li.locator('[data-field="time"]').getAttribute('datetime'), a.uploadTime);
      assert.equal(await li.locator('[data-field="time"]').textContent(), whenOf(a.uploadTime));
    }
  }

  // thumbnailShown presses 刷新 until the API has made the receipt's
  // thumbnail (a job after the upload), then waits for the image to load.
  async function thumbnailShown(page) {
    const img = fileOf(page, receipt).locator('img');
    await eventually('the receipt\'s thumbnail is listed', async () => {
      if (await img.count()) return true;
      await page.locator(`${section} button.refresh`).click();
      await page.locator(`${section} button.refresh:not([disabled])`).waitFor();
      return false;
    }, { within: 30_000 });
    await img.scrollIntoViewIfNeeded();
    await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
    return img;
  }

  walk('the secretary: the files as the API lists them, the thumbnail loaded, a click opens the PNG in a new tab, audited', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: `#/errand/${id}`, ready: section });
    assert.equal(await page.locator(`${section} h2`).textContent(), '材料与回执');
    const img = await thumbnailShown(page);
    const { attachments } = await as(SECRETARY).get(`/v1/${errand.name}/attachments`);
    assert.deepEqual(attachments.map((a) => a.name), [receipt.name, scan.name, mistake.name]);
    await shownAsListed(page, attachments);
    assert.equal(await page.locator(`${section} .summary`).getAttribute('data-count'), '3');
    assert.match(await img.getAttribute('src'), /^\/v1\/files\/[\w-]+\.[\w-]+$/, 'the signed thumbnail URL');
    assert.equal(await img.getAttribute('loading'), 'lazy');
    assert.ok(await img.evaluate((el) => el.naturalWidth <= 256 && el.naturalHeight <= 256), 'a thumbnail, not the file');
    // A PDF has no thumbnail: its kind in words, still a link to the file.
    assert.equal(await fileOf(page, scan).locator('img').count(), 0);
    assert.equal((await fileOf(page, scan).locator('.thumb').textContent()).trim(), 'PDF');
    assert.match(await fileOf(page, scan).locator('a.file-name').getAttribute('href'), /^\/v1\/files\//);
    // A name typed like markup is text.
    assert.equal(await fileOf(page, mistake).locator('.file-name').textContent(), '<img src=x onerror=alert(5)>.png');
    assert.equal(await page.locator(`${section} .locked`).count(), 0, 'no note: the secretary may open files');

    const link = fileOf(page, receipt).locator('a.file-name');
    assert.equal(await link.getAttribute('target'), '_blank');
    assert.match(await link.getAttribute('rel'), /\bnoopener\b/);
    assert.match(await link.getAttribute('href'), /^\/v1\/files\/[\w-]+\.[\w-]+$/);
    const audited = async () => (await as(COUNTY_ADMIN).get(`/v1/regions/${XIANGYUAN}/auditEntries`, { filter: 'unmasked_read = true', pageSize: 500 }))
      .auditEntries.filter((a) => a.resource === receipt.name && a.action === 'GET /v1/files');
    const before = (await audited()).length;
    const context = page.context();
    const answered = context.waitForEvent('response', (r) => r.url().includes('/v1/files/') && r.request().resourceType() === 'document');
    const [tab] = await Promise.all([context.waitForEvent('page'), link.click()]);
    const res = await answered;
    assert.equal(res.frame().page(), tab, 'the file opens in the new tab');
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['content-type'], 'image/png');
    const body = await res.body();
    assert.equal(body.subarray(0, 8).toString('latin1'), '\x89PNG\r\n\x1a\n', 'a PNG');
    assert.equal(body.length, Number(receipt.sizeBytes), 'the stored file');
    const secretary = (await apiSession(SECRETARY)).user.name;
    const entries = await eventually('the download is in the audit log', async () => {
      const now = await audited();
      return now.length > before && now;
    });
    assert.equal(entries[0].actor, secretary);

    await fileOf(page, receipt).scrollIntoViewIfNeeded();
    await page.locator(section).screenshot({ path: join(shots, 'attachments-desktop.png') });
  });

  walk('phone 375×812: the section fits the width, the thumbnail loaded', async ({ open, t }) => {
    const page = await open({ viewport: PHONE });
    await signIn(page, SECRETARY, { hash: `#/errand/${id}`, ready: section });
    await thumbnailShown(page);
    const { scrollWidth, innerWidth } = await page.evaluate(() => ({ scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth }));
    assert.ok(scrollWidth <= innerWidth, `the page is ${scrollWidth}px wide in a ${innerWidth}px window`);
    const boxes = await page.locator(`${section} li.file`).evaluateAll((lis) => lis.map((li) => li.getBoundingClientRect().right));
    for (const right of boxes) assert.ok(right <= PHONE.width, `a file's box ends at ${right}px`);
    await page.locator(section).screenshot({ path: join(shots, 'attachments-phone.png') });
    t.diagnostic(`screenshots in ${shots}`);
  });

  walk('the city admin sees the list without links or thumbnails, and why; the county admin opens files but deletes none', async ({ open }) => {
    const city = await open();
    await signIn(city, CITY_ADMIN, { hash: `#/errand/${id}`, ready: section });
    const { attachments } = await as(CITY_ADMIN).get(`/v1/${errand.name}/attachments`);
    assert.ok(attachments.length >= 3 && attachments.every((a) => !a.downloadUri && !a.thumbnailUri), 'the API gives the city no URLs');
    await shownAsListed(city, attachments);
    assert.equal(await city.locator(`${section} a, ${section} img`).count(), 0, 'no link, no thumbnail');
    assert.equal((await fileOf(city, receipt).locator('.thumb').textContent()).trim(), '图片');
    assert.equal(await city.locator(`${section} .notice.locked strong`).textContent(), '文件仅限乡镇、县级查看');
    assert.equal(await city.locator(`${section} button.delete`).count(), 0, 'no 删除');
    await city.locator(section).screenshot({ path: join(shots, 'attachments-city.png') });

    const county = await open();
    await signIn(county, COUNTY_ADMIN, { hash: `#/errand/${id}`, ready: section });
    assert.match(await fileOf(county, receipt).locator('a.file-name').getAttribute('href'), /^\/v1\/files\//);
    assert.equal(await county.locator(`${section} .locked`).count(), 0);
    assert.equal(await county.locator(`${section} button.delete`).count(), 0, 'only the township secretary deletes');
    // The audit log says in words who opened the receipt and its thumbnail.
    const { auditEntries } = await as(COUNTY_ADMIN).get(`/v1/regions/${XIANGYUAN}/auditEntries`, { filter: 'unmasked_read = true', pageSize: 100 });
    const reads = auditEntries.filter((a) => a.resource === receipt.name);
    assert.ok(reads.some((a) => a.action === 'GET /v1/files') && reads.some((a) => a.action === 'GET /v1/files (thumbnail)'), JSON.stringify(reads));
    await visit(county, `#/audit/${XIANGYUAN}?unmasked=1`, 'table');
    const words = await county.locator('#main tbody tr').filter({ hasText: receipt.name }).locator('td:nth-child(4)').allTextContents();
    assert.ok(words.includes('打开附件') && words.includes('查看附件缩略图'), words.join(', '));
  });

  walk('a link past its ten minutes is read again rather than opened; the fresh one opens', async ({ open }) => {
    const page = await open();
    await page.context().clock.install();
    await signIn(page, SECRETARY, { hash: `#/errand/${id}`, ready: section });
    const link = fileOf(page, scan).locator('a.file-name');
    await link.evaluate((a) => { a.dataset.walkStale = ''; });
    let tabs = 0;
    page.context().on('page', () => { tabs++; });
    await page.context().clock.fastForward('10:00'); // the PC's clock moves on; the server's links expire
    await link.click();
    await page.locator(`${section} .notice.info`, { hasText: '链接已过期' }).waitFor();
    assert.equal(tabs, 0, 'no tab opened on the expired link');
    assert.equal(await link.evaluate((a) => 'walkStale' in a.dataset), false, 'the list read again');
    const [tab] = await Promise.all([page.context().waitForEvent('page'), link.click()]);
    const res = await tab.waitForResponse((r) => r.url().includes('/v1/files/'));
    assert.equal(res.status(), 200);
    // Chromium hands a PDF to its viewer and Playwright sees no headers:
    // the same link, without a token, from here.
    const file = await fetch(res.url());
    assert.equal(file.headers.get('Content-Type'), 'application/pdf');
    assert.deepEqual(Buffer.from(await file.arrayBuffer()), PDF, 'the PDF uploaded');
  });

  walk('the township secretary deletes a file with a reason; an errand without files says 暂无材料', async ({ open }) => {
    const page = await open();
    await signIn(page, SECRETARY, { hash: `#/errand/${id}`, ready: section });
    const li = fileOf(page, mistake);
    await li.getByRole('button', { name: '删除' }).click();
    // A blank reason is the API's field violation, shown by the field; nothing is deleted.
    await li.getByLabel('删除原因').fill('   ');
    await li.getByRole('button', { name: '确认删除' }).click();
    const violation = li.locator('.violation[data-for="reason"]:not(:empty)');
    await violation.waitFor();
    assert.match(await violation.textContent(), /原因/);
    assert.ok((await as(SECRETARY).get(`/v1/${errand.name}/attachments`)).attachments.some((a) => a.name === mistake.name), 'not deleted');

    const reason = `拍错了，已重新上传 ${randomUUID().slice(0, 8)}`;
    await li.getByLabel('删除原因').fill(reason);
    await li.getByRole('button', { name: '确认删除' }).click();
    await page.locator(`${section} .notice.info`, { hasText: '已删除' }).waitFor();
    assert.equal(await page.locator(`${section} .notice.info strong`).textContent(), '已删除 <img src=x onerror=alert(5)>.png。');
    const { attachments } = await as(SECRETARY).get(`/v1/${errand.name}/attachments`);
    assert.deepEqual(attachments.map((a) => a.name), [receipt.name, scan.name], 'the API lists it no more');
    await shownAsListed(page, attachments);
    const deleted = (await as(SECRETARY).get(`/v1/${errand.name}/attachments`, { showDeleted: true })).attachments.find((a) => a.name === mistake.name);
    assert.ok(deleted?.deleteTime, 'deleted, with its time');

    const { overdueErrands } = await as(SECRETARY).get(`/v1/regions/${GUHAN}/overdueErrands`, { pageSize: 1 });
    const other = overdueErrands[0].errand;
    assert.deepEqual((await as(SECRETARY).get(`/v1/${other}/attachments`)).attachments ?? [], [], 'the demo seeds no files');
    await visit(page, `#/errand/${other.split('/').pop()}`, section);
    assert.equal(await page.locator(`${section} .notice.empty strong`).textContent(), '暂无材料');
    assert.equal(await page.locator(`${section} li.file`).count(), 0);
  });
});
