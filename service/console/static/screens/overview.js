// 概览: a region's figures for a period, the weekly trend, and a breakdown
// by child region, service point, agent or errand type that drills down
// the tree (city → county → township → service point) and back up by the
// breadcrumbs.

import * as api from '../api.js';
import { h, num, rate, days, codeOf, within, levelOf, idOf, sortableTable, download, empty, flash } from '../ui.js';
import { link, go } from '../router.js';
import { chain, breadcrumbs, periodOf, periodBar } from '../parts.js';
import { chart, PALETTE } from '../charts.js';
import * as period from '../period.js';

const GROUPS = [
  { by: 'CHILD_REGION', label: '下级区域' },
  { by: 'SERVICE_POINT', label: '代办点' },
  { by: 'AGENT', label: '代办员' },
  { by: 'ERRAND_TYPE', label: '事项类型' },
];

// The figures on the cards, as the API names them in Workload.total.
export const KPIS = [
  { key: 'received', label: '受理', fmt: num },
  { key: 'completed', label: '办结', fmt: num },
  { key: 'inProgress', label: '在办', fmt: num },
  { key: 'overdue', label: '当前超期', fmt: num, alert: true },
  { key: 'onTimeRate', label: '按时办结率', fmt: (x, t) => rate(x, t.completed) },
  { key: 'satisfactionRate', label: '满意率', fmt: (x, t) => rate(x, t.ratings) },
  { key: 'openFollowUps', label: '待回访', fmt: num, alert: true },
];

const COLUMNS = [
  { key: 'received', label: '受理', numeric: true },
  { key: 'completed', label: '办结', numeric: true },
  { key: 'inProgress', label: '在办', numeric: true },
  { key: 'needsMaterials', label: '待补正', numeric: true },
  { key: 'overdue', label: '超期', numeric: true },
  { key: 'onTimeRate', label: '按时率', numeric: true, fmt: (x, r) => rate(x, r.completed) },
  { key: 'satisfactionRate', label: '满意率', numeric: true, fmt: (x, r) => rate(x, r.ratings) },
  { key: 'openFollowUps', label: '待回访', numeric: true },
  { key: 'medianWorkingDays', label: '办理中位数（工作日）', numeric: true, fmt: days },
  { key: 'consentRate', label: '授权率', numeric: true, fmt: (x, r) => rate(x, r.received) },
  { key: 'reopened', label: '重新办理', numeric: true },
];

function defaultGroup(level) {
  if (level === 'REGION_LEVEL_VILLAGE') return 'AGENT';
  if (level === 'REGION_LEVEL_TOWNSHIP') return 'SERVICE_POINT';
  return 'CHILD_REGION';
}

// point: #/point/{id} opens the overview of the point's village.
export async function point({ arg, params }) {
  const sp = await api.get(`/v1/servicePoints/${encodeURIComponent(arg)}`);
  go('overview', codeOf(sp.region), { ...Object.fromEntries(params), point: arg }, { replace: true });
  return h('p', { class: 'loading' }, '加载中…');
}

export async function overview({ arg, params, user }) {
  const code = arg || codeOf(user.region);
  const scope = codeOf(user.region);
  const p = periodOf(params);
  const pointId = params.get('point');
  const level = levelOf(code);
  const groups = GROUPS.filter((g) => !(level === 'REGION_LEVEL_VILLAGE' && (g.by === 'CHILD_REGION' || g.by === 'SERVICE_POINT')));
  const by = groups.some((g) => g.by === params.get('by')) ? params.get('by') : defaultGroup(level);
  const sort = params.get('sort') === 'displayName' || COLUMNS.some((c) => c.key === params.get('sort')) ? params.get('sort') : 'received';
  const dir = params.get('dir') === 'asc' ? 'asc' : 'desc';
  const base = `/v1/regions/${encodeURIComponent(code)}/workload`;

  // The trend: twelve ISO weeks ending with the period's last week (or this
  // week, if the period has not ended). Outside the user's scope the API
  // refuses the figures; the trend's twelve are not sent to be refused too.
  const lastDay = new Date(Math.min(period.addDays(p.end, -1).getTime(), period.today().getTime()));
  const weeks = within(code, scope) ? period.weeksEnding(lastDay, 12) : [];
  // The trend is asked for at once but drawn when it comes: the figures
  // do not wait for it. Only its totals are drawn: grouped by errand type,
  // which every level has (a village has no child regions) and which is
  // short (the city by agent would be 600 KB a week).
  const trend = Promise.all(weeks.map((w) => api.get(base, { period: w, groupBy: 'ERRAND_TYPE' })));
  trend.catch(() => {}); // shown in the chart's box
  const [wl, crumbs, sp] = await Promise.all([
    api.get(base, { ...p.query, groupBy: by }),
    chain(code, scope),
    pointId ? api.get(`/v1/servicePoints/${encodeURIComponent(pointId)}`) : null,
  ]);
  const here = crumbs[crumbs.length - 1];

  const state = { ...p.params, by, sort, dir, point: pointId };
  const here$ = (extra) => link('overview', code, { ...state, ...extra });
  const title = sp ? sp.displayName : here.displayName;

  const cards = h('div', { class: 'kpis', role: 'list' }, KPIS.map((k) =>
    h('div', { class: `kpi${k.alert && wl.total[k.key] > 0 ? ' alert' : ''}`, role: 'listitem', dataset: { kpi: k.key } },
      h('span', { class: 'kpi-label' }, k.label),
      h('span', { class: 'kpi-value' }, k.fmt(wl.total[k.key], wl.total)),
      k.key === 'inProgress' && wl.total.needsMaterials ? h('span', { class: 'kpi-sub' }, `另待补正 ${num(wl.total.needsMaterials)}`) : null)));

  // The Excel export is the township's and above (the API refuses a
  // village secretary): no button for what would be refused.
  const exportButton = user.role === 'ROLE_VILLAGE_SECRETARY' ? null : h('button', { type: 'button', onclick: async () => {
    exportButton.disabled = true;
    try {
      download(await api.call('GET', `${base}:export`, { query: p.query, blob: true }));
    } catch (err) {
      flash(exportButton, err);
    } finally {
      exportButton.disabled = false;
    }
  } }, '导出 Excel');

  const trendChart = chart(h('div', { class: 'chart-box', role: 'img', 'aria-label': '近12周受理、办结趋势' }), trend.then((trend) => ({
    color: PALETTE,
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 40, right: 40, top: 36, bottom: 28 },
    xAxis: { type: 'category', data: weeks.map((w) => `${Number(w.slice(6))}周`) },
    yAxis: [{ type: 'value', minInterval: 1 }, { type: 'value', min: 0, max: 100, axisLabel: { formatter: '{value}%' } }],
    series: [
      { name: '受理', type: 'bar', data: trend.map((t) => t.total.received) },
      { name: '办结', type: 'bar', data: trend.map((t) => t.total.completed) },
      { name: '按时率', type: 'line', yAxisIndex: 1, data: trend.map((t) => (t.total.completed ? Math.round(t.total.onTimeRate * 1000) / 10 : null)) }, // no point where nothing was completed
    ],
  })));

  const nameOf = (row) => {
    if (by === 'CHILD_REGION') return h('a', { href: link('overview', codeOf(row.key), p.params) }, row.displayName);
    if (by === 'SERVICE_POINT') return h('a', { href: link('point', idOf(row.key), p.params) }, row.displayName);
    return row.displayName;
  };
  const groupLabel = groups.find((g) => g.by === by).label;
  const table = wl.rows.length ? sortableTable({
    caption: `按${groupLabel}`,
    columns: [{ key: 'displayName', label: groupLabel, value: (r) => r.displayName, render: nameOf },
      ...COLUMNS.map((c) => ({ ...c, value: (r) => r[c.key] || 0, render: c.fmt ? (r) => c.fmt(r[c.key], r) : null }))],
    rows: wl.rows, sort, dir,
    onSort: (s, d) => { location.hash = here$({ sort: s, dir: d }); },
  }) : empty(`本期${groupLabel}没有数据。`);
  const chartKey = sort === 'displayName' ? 'received' : sort;
  const top = [...wl.rows].sort((a, b) => (b[chartKey] || 0) - (a[chartKey] || 0)).slice(0, 15);
  const breakdownChart = wl.rows.length ? chart(h('div', { class: 'chart-box', role: 'img', 'aria-label': `按${groupLabel}的受理、办结` }), {
    color: PALETTE,
    tooltip: { trigger: 'axis' },
    legend: { top: 0 },
    grid: { left: 8, right: 16, top: 36, bottom: 8, containLabel: true },
    xAxis: { type: 'category', data: top.map((r) => r.displayName), axisLabel: { interval: 0, rotate: top.length > 5 ? 30 : 0, width: 90, overflow: 'truncate' } },
    yAxis: { type: 'value', minInterval: 1 },
    series: [
      { name: '受理', type: 'bar', data: top.map((r) => r.received) },
      { name: '办结', type: 'bar', data: top.map((r) => r.completed) },
      { name: '超期', type: 'bar', data: top.map((r) => r.overdue) },
    ],
  }) : null;

  return h('section', { class: 'overview' },
    h('div', { class: 'head' }, h('h1', {}, `${title} · 工作概览`), exportButton),
    breadcrumbs(crumbs, 'overview', p.params, sp ? sp.displayName : null),
    periodBar(p, (pp) => link('overview', code, { ...pp, by, sort, dir, point: pointId })),
    h('p', { class: 'period-label' }, `统计周期：${wl.period === 'custom' ? p.label : period.label(wl.period)}；在办、超期、待回访为当前数。`,
      sp ? ' 代办点的数据为其所在村的全部事项。' : ''),
    cards,
    h('h2', {}, '近12周趋势'),
    trendChart,
    h('h2', {}, '分项'),
    h('nav', { class: 'tabs', 'aria-label': '分组' }, groups.map((g) =>
      h('a', { href: here$({ by: g.by }), class: `chip${g.by === by ? ' on' : ''}`, 'aria-current': g.by === by ? 'true' : null }, `按${g.label}`))),
    breakdownChart,
    table);
}
