// DOM helpers and formats. Every string reaches the page as a text node or
// an attribute value, never as HTML: names and comments typed by agents
// and residents stay text.

import { ApiError } from './api.js';

// h builds an element: h('a', { href: '#/x', class: 'c', onclick: f }, 'text', child).
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) {
      if (typeof v !== 'function') throw new TypeError(`${k} must be a function`); // never an inline handler
      el.addEventListener(k.slice(2), v);
    }
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export const num = (n) => (n || 0).toLocaleString('zh-CN');
export const pct = (x) => `${((x || 0) * 100).toFixed(1)}%`;
// rate is a share of something that may not have happened: — when nothing
// was there to count (no errand completed, no rating given).
export const rate = (x, of) => (of ? pct(x) : '—');
export const days = (x) => (x || 0).toFixed(1);
// size is a file's size in KB (at least 1) or MB; bytes may be the API's int64 string.
export const size = (bytes) => {
  const n = Number(bytes) || 0;
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1024))} KB`;
};

const dateTime = new Intl.DateTimeFormat('zh-CN', {
  timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
});
const dateOnly = new Intl.DateTimeFormat('zh-CN', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' });
export const when = (t) => (t ? dateTime.format(new Date(t)) : '—');
export const day = (t) => (t ? dateOnly.format(new Date(t)) : '—');

export const ROLE_NAMES = {
  ROLE_AGENT: '代办员',
  ROLE_VILLAGE_SECRETARY: '村书记',
  ROLE_TOWNSHIP_SECRETARY: '乡镇书记',
  ROLE_COUNTY_ADMIN: '县级管理员',
  ROLE_CITY_ADMIN: '市级管理员',
  ROLE_RESIDENT: '群众',
};
export const LEVEL_NAMES = {
  REGION_LEVEL_PROVINCE: '省', REGION_LEVEL_CITY: '市', REGION_LEVEL_COUNTY: '县（区）', REGION_LEVEL_TOWNSHIP: '乡镇（街道）', REGION_LEVEL_VILLAGE: '村（社区）',
};

// Regions are 12-digit codes: 2 digits for a province (a deployment of
// several cities), 4 for a city, 6 for a county, 9 for a township, 12 for
// a village; a region's subtree shares its prefix.
export const codeOf = (name) => (name || '').replace(/^regions\//, '');
export function prefixOf(code) {
  if (code.endsWith('0000000000')) return code.slice(0, 2);
  if (code.endsWith('00000000')) return code.slice(0, 4);
  if (code.endsWith('000000')) return code.slice(0, 6);
  if (code.endsWith('000')) return code.slice(0, 9);
  return code;
}
export const within = (code, scope) => code.startsWith(prefixOf(scope));
export const levelOf = (code) => ({ 2: 'REGION_LEVEL_PROVINCE', 4: 'REGION_LEVEL_CITY', 6: 'REGION_LEVEL_COUNTY', 9: 'REGION_LEVEL_TOWNSHIP' })[prefixOf(code).length] || 'REGION_LEVEL_VILLAGE';
export const idOf = (name) => (name || '').split('/').pop();

// notice is the zh-CN panel for an empty list, a failure or a lack of rights.
export function notice(kind, title, text) {
  return h('div', { class: `notice ${kind}`, role: kind === 'error' ? 'alert' : 'status' },
    h('strong', {}, title), text ? h('p', {}, text) : null);
}

// say is what a failure tells the user: the API's zh-CN message, or a
// network fault in Chinese (never the browser's English).
export const say = (err, fallback) => (err instanceof ApiError ? err.message || fallback : '网络异常或服务暂不可用，请稍后重试。');

export function errorPanel(err) {
  if (err instanceof ApiError) {
    if (err.status === 403) return notice('error denied', '无权限', err.message);
    if (err.status === 404) return notice('error', '未找到', err.message);
    return notice('error', '出错了', err.message);
  }
  return notice('error', '出错了', '网络异常或服务暂不可用，请稍后重试。');
}

export const empty = (text) => notice('empty', '暂无数据', text);

// sortableTable renders rows with column headers that sort by a click (or
// Enter): columns are { key, label, value(row), render(row)?, numeric }.
// The sort lives in the caller's state so the URL can carry it.
export function sortableTable({ columns, rows, sort, dir, onSort, caption, rowAttrs }) {
  const col = columns.find((c) => c.key === sort);
  const sorted = col ? [...rows].sort((a, b) => {
    const x = col.value(a), y = col.value(b);
    const cmp = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y), 'zh-CN');
    return dir === 'asc' ? cmp : -cmp;
  }) : rows;
  const head = h('tr', {}, columns.map((c) => {
    const active = c.key === sort;
    return h('th', { scope: 'col', class: c.numeric ? 'num' : '', 'aria-sort': active ? (dir === 'asc' ? 'ascending' : 'descending') : 'none' },
      h('button', { type: 'button', class: 'sort', dataset: { sort: c.key }, onclick: () => onSort(c.key, active && dir === 'desc' ? 'asc' : 'desc') },
        c.label, h('span', { 'aria-hidden': 'true', class: 'arrow' }, active ? (dir === 'asc' ? ' ▲' : ' ▼') : '')));
  }));
  const body = sorted.map((r) => h('tr', rowAttrs ? rowAttrs(r) : {}, columns.map((c) =>
    h('td', { class: c.numeric ? 'num' : '', dataset: { col: c.key } }, c.render ? c.render(r) : c.value(r)))));
  return h('div', { class: 'table-wrap' }, h('table', {}, caption ? h('caption', {}, caption) : null, h('thead', {}, head), h('tbody', {}, body)));
}

// download saves a blob under its name.
export function download({ blob, fileName }) {
  const href = URL.createObjectURL(blob);
  const a = h('a', { href, download: fileName, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60_000);
}

// field is a labelled form control with room for the server's complaint.
export function field(label, control, hint) {
  const id = control.id || `f-${Math.random().toString(36).slice(2, 9)}`;
  control.id = id;
  return h('div', { class: 'field' }, h('label', { for: id }, label), control,
    hint ? h('small', {}, hint) : null, h('small', { class: 'violation', 'aria-live': 'polite', dataset: { for: control.name || '' } }));
}

// showViolations puts an ApiError's field violations next to the fields
// named after them (the last part of the field path), and the message on
// top of the form.
export function showViolations(form, err) {
  for (const s of form.querySelectorAll('.violation')) s.textContent = '';
  const top = form.querySelector('.form-error');
  if (top) top.textContent = say(err, '提交失败');
  if (!(err instanceof ApiError)) return;
  for (const [path, msg] of Object.entries(err.fields)) {
    const key = path.split('.').pop().replace(/_([a-z])/g, (_, c) => c.toUpperCase());
    const slot = form.querySelector(`.violation[data-for="${CSS.escape(key)}"]`);
    if (slot) slot.textContent = msg;
  }
}

// inlineForm is an action's form shown in place of the button that opened
// it: the fields, a submit button and 取消, which gives the button back.
// send makes the call (and what follows it); a refusal shows its
// violations beside the fields and lets the user try again.
export function inlineForm({ className, fields, submitText, button, send }) {
  const form = h('form', { class: className },
    h('p', { class: 'form-error', role: 'alert' }),
    ...fields,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary' }, submitText),
      h('button', { type: 'button', onclick: () => { form.remove(); button.hidden = false; button.focus(); } }, '取消')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const submit = form.querySelector('[type=submit]');
    submit.disabled = true;
    try {
      await send();
    } catch (err) {
      showViolations(form, err);
      submit.disabled = false;
    }
  });
  return form;
}

// flash shows a failure next to the control that caused it, for a while.
export function flash(near, err) {
  const msg = h('p', { class: 'notice error', role: 'alert' }, say(err, '操作失败'));
  near.after(msg);
  setTimeout(() => msg.remove(), 8000);
}

// moreButton is a list's 加载更多: it appends the rows of each next page
// (rowsOf(page)) to body while the API gives a next page token.
export function moreButton(first, { next, rowsOf, body }) {
  const more = h('button', { type: 'button', class: 'more' }, '加载更多');
  let token = '';
  const add = (page) => {
    body.append(...rowsOf(page));
    token = page.nextPageToken;
    more.hidden = !token;
  };
  add(first);
  more.addEventListener('click', async () => {
    more.disabled = true;
    try {
      add(await next(token));
    } catch (err) {
      flash(more, err);
    } finally {
      more.disabled = false;
    }
  });
  return more;
}
