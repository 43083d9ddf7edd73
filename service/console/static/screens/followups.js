// 回访: the township's call-backs after bad ratings, open ones first;
// closing one records the outcome and a note (and shows in the errand's
// history). When the call-back finds the errand was not really done, the
// township secretary reopens it from its follow-up (重新办理: the API's
// :reopen, township secretaries only).

import * as api from '../api.js';
import { h, num, when, codeOf, idOf, empty, notice, field, inlineForm } from '../ui.js';
import { link, refresh } from '../router.js';
import { chain, breadcrumbs } from '../parts.js';

const OUTCOMES = [
  ['RESOLVED', '问题已解决'],
  ['EXPLAINED', '已解释说明'],
  ['UNRESOLVED', '未能解决'],
];

const MAX = 2000;
let closedLast = ''; // the close or reopening just made, said once on the redrawn page

const list = (code, query) => api.getAll(`/v1/regions/${encodeURIComponent(code)}/followUps`, 'followUps', query, MAX);

export async function followups({ arg, user }) {
  const code = arg || codeOf(user.region);
  // The open ones on their own, so their count is whole; then the list,
  // for the closed ones (the API lists them oldest first, after the open).
  const [crumbs, openList, everything] = await Promise.all([
    chain(code, codeOf(user.region)), list(code, { openOnly: true }), list(code, {}),
  ]);
  const open = openList.items;
  const closed = everything.items.filter((f) => !f.open).sort((a, b) => (b.closeTime || '').localeCompare(a.closeTime || ''));
  const here = crumbs[crumbs.length - 1];

  const closeForm = (f, button) => {
    const outcome = h('select', { name: 'outcome', required: true },
      h('option', { value: '' }, '请选择'), OUTCOMES.map(([v, t]) => h('option', { value: v }, t)));
    const note = h('textarea', { name: 'note', rows: 3, maxlength: 2000, required: true });
    return inlineForm({
      className: 'close-form', button, submitText: '确认办结',
      fields: [field('回访结果', outcome), field('回访记录', note, '说明与群众沟通的情况和处理结果，1–2000 字。')],
      send: async () => {
        await api.call('POST', `/v1/${f.name}:close`, { body: { note: note.value.trim(), outcome: outcome.value } });
        closedLast = `已登记 ${f.trackingCode} 的回访。`;
        refresh();
      },
    });
  };

  // reopenForm asks why the errand goes back to 办理中; the follow-up it
  // comes from is sent with it, and a retry of the same submit is one
  // reopening (the request id is made once per form).
  const reopenForm = (f, button) => {
    const requestId = crypto.randomUUID();
    const reason = h('textarea', { name: 'reason', rows: 3, maxlength: 2000, required: true });
    return inlineForm({
      className: 'reopen-form', button, submitText: '确认重新办理',
      fields: [field('重新办理原因', reason, '回访核实的情况，例如：证明未实际开具。事项回到“办理中”，按事项时限重新计算办结期限，并通知代办员。')],
      send: async () => {
        const errand = await api.call('POST', `/v1/${f.errand}:reopen`, { body: { reason: reason.value.trim(), followUp: f.name, requestId } });
        closedLast = `已重新打开 ${f.trackingCode}，请代办员于 ${when(errand.dueTime)} 前重新办结。`;
        refresh();
      },
    });
  };

  const card = (f) => {
    const li = h('li', { class: `followup${f.open ? ' open' : ''}`, dataset: { name: f.name } },
      h('div', { class: 'line' },
        h('a', { href: link('errand', idOf(f.errand)) }, f.trackingCode),
        h('span', { class: `badge${f.open ? ' alert' : ''}` }, f.open ? '待回访' : '已回访'),
        h('span', {}, f.ratingDisplayName),
        h('span', {}, f.servicePointDisplayName)),
      f.comment ? h('blockquote', { class: 'comment' }, f.comment) : null,
      h('p', { class: 'meta' }, `评价时间 ${when(f.createTime)}`,
        f.open ? `，已等待 ${num(f.openWorkingDays)} 个工作日` : `，${when(f.closeTime)} 办结，用时 ${num(f.openWorkingDays)} 个工作日`),
      f.note ? h('p', { class: 'note' }, `回访记录：${f.note}`) : null);
    if (f.open) {
      const button = h('button', { type: 'button', class: 'primary', onclick: () => {
        button.hidden = true;
        const form = closeForm(f, button);
        li.append(form);
        form.querySelector('select').focus();
      } }, '登记回访');
      li.append(button);
    }
    if (user.role === 'ROLE_TOWNSHIP_SECRETARY') {
      const reopen = h('button', { type: 'button', class: 'reopen', onclick: () => {
        reopen.hidden = true;
        const form = reopenForm(f, reopen);
        li.append(form);
        form.querySelector('textarea').focus();
      } }, '重新办理');
      li.append(reopen);
    }
    return li;
  };

  return h('section', {},
    h('h1', {}, `${here.displayName} · 回访`),
    breadcrumbs(crumbs, 'followups', {}),
    h('p', { class: 'summary' }, '待回访 ', h('strong', { dataset: { openCount: open.length } }, num(open.length)), ' 件；已回访 ', num(closed.length), ' 件',
      everything.capped ? `（仅列出最早的 ${num(MAX)} 件中已办结的）` : '', '。'),
    closedLast ? notice('info', (() => { const said = closedLast; closedLast = ''; return said; })()) : null,
    openList.capped ? notice('info', `待回访超过 ${num(MAX)} 件`, `此处只列出最早的 ${num(MAX)} 件，请到下级区域查看。`) : null,
    h('h2', {}, '待回访'),
    open.length ? h('ul', { class: 'followups' }, open.map(card)) : empty('没有待回访的差评。'),
    h('h2', {}, '已回访'),
    closed.length ? h('ul', { class: 'followups' }, closed.map(card)) : empty('还没有办结的回访。'));
}
