// 超期: a region's overdue errands, most overdue first; and an errand's
// detail with its files (材料与回执, attachments.js) and its history.
// Personal data is masked; the full view is one explicit click away for
// the roles the API allows, and the API audits it.

import * as api from '../api.js';
import { h, num, when, codeOf, idOf, empty, flash, moreButton } from '../ui.js';
import { link } from '../router.js';
import { chain, breadcrumbs } from '../parts.js';
import { readAttachments, attachmentsSection } from './attachments.js';

const PAGE = 50;

export async function overdue({ arg, params, user }) {
  const code = arg || codeOf(user.region);
  const list = (pageToken) => api.get(`/v1/regions/${encodeURIComponent(code)}/overdueErrands`, { pageSize: PAGE, pageToken });
  const [crumbs, first] = await Promise.all([chain(code, codeOf(user.region)), list('')]);
  const body = h('tbody');
  const more = moreButton(first, {
    body,
    next: list,
    rowsOf: (page) => page.overdueErrands.map((e) => h('tr', {},
      h('td', {}, h('a', { href: link('errand', idOf(e.errand), { from: code }) }, e.trackingCode)),
      h('td', {}, e.errandTypeDisplayName),
      h('td', {}, e.servicePointDisplayName),
      h('td', {}, e.agentDisplayName),
      h('td', {}, e.stateDisplayName),
      h('td', {}, when(e.dueTime)),
      h('td', { class: 'num', dataset: { col: 'overdueWorkingDays' } }, num(e.overdueWorkingDays)))),
  });
  const here = crumbs[crumbs.length - 1];
  return h('section', {},
    h('h1', {}, `${here.displayName} · 超期事项`),
    breadcrumbs(crumbs, 'overdue', {}),
    h('p', { class: 'summary', dataset: { total: first.totalSize } }, `当前超期 ${num(first.totalSize)} 件，按超期工作日从多到少排列。`),
    first.overdueErrands.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['办理码', '事项', '代办点', '代办员', '状态', '应办结时间', '超期（工作日）'].map((t, i) =>
        h('th', { scope: 'col', class: i === 6 ? 'num' : '' }, t)))),
      body)) : empty('没有超期事项。'),
    more);
}

const FULL_ROLES = ['ROLE_AGENT', 'ROLE_TOWNSHIP_SECRETARY'];

export async function errand({ arg, params, user }) {
  const name = `errands/${encodeURIComponent(arg)}`;
  const [e, events, files] = await Promise.all([
    api.get(`/v1/${name}`),
    api.get(`/v1/${name}/events`, { pageSize: 500 }),
    readAttachments(name),
  ]);
  const phone = h('dd', { dataset: { field: 'residentPhone' } }, e.residentPhone || '—');
  const idNumber = h('dd', { dataset: { field: 'residentIdNumber' } }, e.residentIdNumber || '—');
  let full = null;
  if (FULL_ROLES.includes(user.role)) {
    full = h('button', { type: 'button', class: 'warn', onclick: async () => {
      full.disabled = true;
      try {
        const f = await api.get(`/v1/${name}`, { view: 'ERRAND_VIEW_FULL' });
        phone.textContent = f.residentPhone || '—';
        idNumber.textContent = f.residentIdNumber || '—';
        full.replaceWith(h('p', { class: 'notice info', role: 'status' }, '已显示完整个人信息；本次查看已记入审计日志。'));
      } catch (err) {
        full.disabled = false;
        flash(full, err);
      }
    } }, '查看完整个人信息（将记入审计日志）');
  }
  const back = params.get('from');
  const row = (label, value) => [h('dt', {}, label), h('dd', {}, value || '—')];
  return h('section', { class: 'errand' },
    back ? h('p', {}, h('a', { href: link('overdue', back) }, '← 返回超期列表')) : null,
    h('h1', {}, `${e.errandTypeDisplayName} · ${e.trackingCode}`),
    h('p', {}, h('span', { class: `state${e.overdue ? ' alert' : ''}` }, e.stateDisplayName), e.overdue ? h('span', { class: 'badge alert' }, '已超期') : null),
    h('dl', { class: 'facts' },
      row('代办点', e.servicePointDisplayName),
      row('代办员', e.agentDisplayName),
      row('群众姓名', e.residentName),
      h('dt', {}, '联系电话'), phone,
      h('dt', {}, '身份证号'), idNumber,
      row('诉求', e.description),
      row('已收材料', (e.materials || []).join('、')),
      row('受理时间', when(e.acceptTime)),
      row('应办结时间', when(e.dueTime)),
      e.forwardedTo ? row('转办至', e.forwardedTo) : null,
      (e.missingMaterials || []).length ? row('待补材料', e.missingMaterials.join('、')) : null,
      e.result ? row('办理结果', e.result) : null,
      e.cancelReason ? row('撤销原因', e.cancelReason) : null,
      row('办结时间', e.closeTime ? when(e.closeTime) : '')),
    full,
    attachmentsSection(name, files, user),
    h('h2', {}, '办理记录'),
    events.events.length ? h('ol', { class: 'timeline' }, events.events.map((ev) => h('li', {},
      h('time', { datetime: ev.createTime }, when(ev.createTime)),
      h('strong', {}, ev.displayText),
      h('span', { class: 'actor' }, ev.actorDisplayName),
      ev.note ? h('p', { class: 'note' }, ev.note) : null))) : empty('暂无办理记录。'));
}
