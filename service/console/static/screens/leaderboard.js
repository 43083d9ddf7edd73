// 太行先锋: the Taihang Pioneer boards of service points, townships and
// counties, by week, month, quarter or year, by total or per-point average,
// with rank changes; the signed-in user's own region is highlighted.

import * as api from '../api.js';
import { h, num, pct, rate, codeOf, within, empty } from '../ui.js';
import { link } from '../router.js';
import { region, periodOf, periodBar } from '../parts.js';
import * as period from '../period.js';

const LEVELS = {
  REGION_LEVEL_CITY: [['COUNTY', '县（区）'], ['TOWNSHIP', '乡镇'], ['SERVICE_POINT', '代办点']],
  REGION_LEVEL_COUNTY: [['TOWNSHIP', '乡镇'], ['SERVICE_POINT', '代办点']],
  REGION_LEVEL_TOWNSHIP: [['SERVICE_POINT', '代办点']],
};
const MAX = 5000;
// A village secretary's village is ranked by its service points.
const OWN_LEVEL = { REGION_LEVEL_COUNTY: 'COUNTY', REGION_LEVEL_TOWNSHIP: 'TOWNSHIP', REGION_LEVEL_VILLAGE: 'SERVICE_POINT' };

// ancestors is a region and every region above it, top first.
async function ancestors(code) {
  const out = [await region(code)];
  while (out[0].parent) out.unshift(await region(codeOf(out[0].parent)));
  return out;
}

export async function leaderboard({ arg, params, user }) {
  const scope = codeOf(user.region);
  const mine = await ancestors(scope);
  const boards = mine.filter((r) => LEVELS[r.level]);
  // By default the board one level up, where the user's region competes
  // (a village's points: on their township's board).
  const village = mine[mine.length - 1].level === 'REGION_LEVEL_VILLAGE';
  const fallback = boards.length > 1 && !village ? boards[boards.length - 2] : boards[boards.length - 1];
  const board = !arg ? fallback : boards.find((r) => codeOf(r.name) === arg) || (await region(arg));
  const levels = LEVELS[board.level] || [];
  // By default the level the user's own region is ranked at.
  const own = OWN_LEVEL[mine[mine.length - 1].level];
  const level = [params.get('level'), own].find((l) => levels.some(([x]) => x === l)) || (levels[0] || [''])[0];
  const order = params.get('order') === 'average' && level !== 'SERVICE_POINT' ? 'average' : 'total';
  const p = periodOf(params.get('from') ? new URLSearchParams() : params);
  const code = codeOf(board.name);
  // The whole board, 500 at a time (the city's 1,286 points are three
  // pages), up to MAX entries.
  const all = await api.getAll(`/v1/regions/${encodeURIComponent(code)}/leaderboard`, 'entries', { level, period: p.period, orderBy: order }, MAX);
  const page = { ...all.first, entries: all.items };
  const href = (extra) => link('leaderboard', code, { period: p.period, level, order, ...extra });

  // The user's own region, and on a board above their scope the members
  // inside it (a secretary's points on the county's board); on a board of
  // their own region everything is theirs, and nothing is marked but itself.
  const mineRow = (e) => e.member === user.region || (!within(code, scope) && within(codeOf(e.region), scope));
  const arrow = (c) => {
    if (c > 0) return h('span', { class: 'up', title: `上升${c}位` }, `▲${c}`);
    if (c < 0) return h('span', { class: 'down', title: `下降${-c}位` }, `▼${-c}`);
    return h('span', { class: 'flat', title: '持平或新上榜' }, '—');
  };
  const rows = page.entries.map((e) => h('tr', { class: mineRow(e) ? 'mine' : '', dataset: { member: e.member } },
    h('td', { class: 'num' }, num(e.rank)),
    h('td', { dataset: { col: 'rankChange' } }, arrow(e.rankChange)),
    h('td', {}, e.displayName, mineRow(e) ? h('span', { class: 'badge' }, '本辖区') : null),
    h('td', { class: 'num' }, e.score.toFixed(1)),
    order === 'average' ? h('td', { class: 'num' }, e.totalScore.toFixed(1)) : null,
    h('td', { class: 'num' }, num(e.errandsCompleted)),
    h('td', { class: 'num' }, rate(e.onTimeRate, e.errandsCompleted)),
    h('td', { class: 'num' }, pct(e.satisfactionRate))));

  const scopeSelect = h('select', { name: 'board', 'aria-label': '排名范围', onchange: () => { location.hash = link('leaderboard', scopeSelect.value, { period: p.period }); } },
    boards.map((r) => h('option', { value: codeOf(r.name), selected: r.name === board.name }, `${r.displayName}范围`)));
  if (!boards.some((r) => r.name === board.name)) scopeSelect.prepend(h('option', { value: code, selected: true }, `${board.displayName}范围`));

  return h('section', { class: 'leaderboard' },
    h('h1', {}, `太行先锋 · ${board.displayName}`),
    h('div', { class: 'controls' },
      scopeSelect,
      h('nav', { class: 'tabs', 'aria-label': '排名对象' }, levels.map(([l, t]) =>
        h('a', { href: href({ level: l, order: l === 'SERVICE_POINT' ? 'total' : order }), class: `chip${l === level ? ' on' : ''}`, 'aria-current': l === level ? 'true' : null }, t))),
      level !== 'SERVICE_POINT' ? h('nav', { class: 'tabs', 'aria-label': '排序方式' },
        [['total', '总分'], ['average', '点均分']].map(([o, t]) =>
          h('a', { href: href({ order: o }), class: `chip${o === order ? ' on' : ''}`, 'aria-current': o === order ? 'true' : null }, t))) : null),
    periodBar(p, (pp) => href(pp), { kinds: ['week', 'month', 'quarter', 'year'] }),
    h('p', { class: 'summary' }, `${period.label(page.period)} 共 ${num(page.totalSize)} 个上榜对象`,
      page.entries.length < page.totalSize ? `（列出前 ${num(page.entries.length)} 名）` : '', '；▲▼ 为较上一周期的名次变化。'),
    page.entries.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['名次', '变化', '名称', order === 'average' ? '点均分' : '总分', order === 'average' ? '总分' : null, '办结', '按时率', '满意率']
        .filter(Boolean).map((t, i) => h('th', { scope: 'col', class: i === 1 || i === 2 ? '' : 'num' }, t)))),
      h('tbody', {}, rows))) : empty('本期还没有上榜对象。'));
}
