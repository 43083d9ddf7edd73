// 报表: the workload of a period as an Excel file, and the stored weekly
// (周调度) and monthly (月通报) reports to download.

import * as api from '../api.js';
import { h, when, size, codeOf, empty, download, flash } from '../ui.js';
import { link } from '../router.js';
import { chain, breadcrumbs, periodOf, periodBar } from '../parts.js';

const KINDS = { WEEKLY_DISPATCH: '周调度', MONTHLY_REPORT: '月通报', QUARTERLY_REVIEW: '季观摩' };

// saveButton downloads what fetch() answers, reporting a failure beside it.
function saveButton(text, fetchFile) {
  const b = h('button', { type: 'button', onclick: async () => {
    b.disabled = true;
    try {
      download(await fetchFile());
    } catch (err) {
      flash(b, err);
    } finally {
      b.disabled = false;
    }
  } }, text);
  return b;
}

export async function reports({ arg, params, user }) {
  const code = arg || codeOf(user.region);
  const p = periodOf(params);
  const [crumbs, snaps] = await Promise.all([
    chain(code, codeOf(user.region)),
    api.get(`/v1/regions/${encodeURIComponent(code)}/reportSnapshots`, { pageSize: 100 }),
  ]);
  const here = crumbs[crumbs.length - 1];
  const rows = snaps.reportSnapshots.map((s) => h('tr', {},
    h('td', {}, KINDS[s.kind] || s.kind),
    h('td', {}, s.period),
    h('td', {}, s.fileName),
    h('td', { class: 'num' }, size(s.sizeBytes)),
    h('td', {}, when(s.createTime)),
    h('td', {}, saveButton('下载', () => api.call('GET', `/v1/${s.name}:download`, { blob: true })))));
  return h('section', {},
    h('h1', {}, `${here.displayName} · 报表`),
    breadcrumbs(crumbs, 'reports', p.params),
    h('h2', {}, '导出工作量'),
    periodBar(p, (pp) => link('reports', code, pp)),
    h('p', {}, `${p.label}：汇总表，并按下级区域、代办点、代办员、事项类型各一张表。 `,
      saveButton('导出 Excel', () => api.call('GET', `/v1/regions/${encodeURIComponent(code)}/workload:export`, { query: p.query, blob: true }))),
    h('h2', {}, '历史报表'),
    rows.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['类型', '周期', '文件', '大小', '生成时间', ''].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, rows))) : empty('还没有生成过周调度或月通报。'));
}
