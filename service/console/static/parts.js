// Pieces several views share: the region breadcrumbs and the period bar.

import * as api from './api.js';
import { h, codeOf, within } from './ui.js';
import { link } from './router.js';
import * as period from './period.js';

const regions = new Map(); // code → Region, for the session

export async function region(code) {
  if (!regions.has(code)) {
    regions.set(code, api.get(`/v1/regions/${encodeURIComponent(code)}`).catch((err) => {
      regions.delete(code);
      throw err;
    }));
  }
  return regions.get(code);
}

// chain is the region and its ancestors inside the user's scope, top first.
export async function chain(code, scope) {
  const out = [];
  let r = await region(code);
  out.unshift(r);
  while (r.parent && codeOf(r.name) !== scope && within(codeOf(r.parent), scope)) {
    r = await region(codeOf(r.parent));
    out.unshift(r);
  }
  return out;
}

// breadcrumbs links each region of the chain to the same view of it; the
// last (where you are) is plain text, as is `tail` (a service point).
export function breadcrumbs(regionsTopFirst, screen, params, tail) {
  const items = regionsTopFirst.map((r, i) => {
    const last = i === regionsTopFirst.length - 1 && !tail;
    return h('li', {}, last
      ? h('span', { 'aria-current': 'page' }, r.displayName)
      : h('a', { href: link(screen, codeOf(r.name), params) }, r.displayName));
  });
  if (tail) items.push(h('li', {}, h('span', { 'aria-current': 'page' }, tail)));
  return h('nav', { class: 'crumbs', 'aria-label': '层级' }, h('ol', {}, items));
}

// periodOf reads the view's period from its query: { period } or a custom
// { from, to } (dates, both inclusive), and the API's query for it.
export function periodOf(params, fallbackKind = 'month') {
  const from = params.get('from'), to = params.get('to');
  const first = new Date(`${from}T00:00:00Z`), last = new Date(`${to}T00:00:00Z`);
  // A range the calendar has (2026-13-01 has no day) and in order; the current month otherwise.
  if (/^\d{4}-\d{2}-\d{2}$/.test(from) && /^\d{4}-\d{2}-\d{2}$/.test(to) && !Number.isNaN(first.getTime()) && !Number.isNaN(last.getTime()) &&
    period.isoDate(first) === from && period.isoDate(last) === to && first <= last) {
    const end = period.addDays(last, 1);
    return {
      kind: 'custom', from, to, start: first, end, label: `${from} 至 ${to}`,
      query: { startTime: period.shanghaiStart(first), endTime: period.shanghaiStart(end) },
      params: { from, to },
    };
  }
  const p = params.get('period');
  const value = p && period.kindOf(p) ? p : period.current(fallbackKind);
  const [start, end] = period.bounds(value);
  return { kind: period.kindOf(value), period: value, start, end, label: period.label(value), query: { period: value }, params: { period: value } };
}

// periodBar picks a week, month, quarter, year or custom range; choosing
// one navigates to `hrefFor(params)`.
export function periodBar(current, hrefFor, { kinds = ['week', 'month', 'quarter', 'year', 'custom'] } = {}) {
  const counts = { week: 12, month: 12, quarter: 8, year: 5 };
  const kindButtons = period.KINDS.filter((k) => kinds.includes(k.kind)).map((k) => {
    const params = k.kind === 'custom'
      ? { from: period.isoDate(current.start), to: period.isoDate(period.addDays(current.end, -1)) }
      : { period: period.current(k.kind) };
    return h('a', { href: hrefFor(params), class: `chip${current.kind === k.kind ? ' on' : ''}`, 'aria-current': current.kind === k.kind ? 'true' : null },
      k.kind === 'custom' ? '自定义' : `本${k.label}`);
  });
  let picker;
  if (current.kind === 'custom') {
    const from = h('input', { type: 'date', name: 'from', value: current.from, required: true });
    const to = h('input', { type: 'date', name: 'to', value: current.to, required: true });
    picker = h('form', { class: 'range', onsubmit: (e) => {
      e.preventDefault();
      if (from.value && to.value && from.value <= to.value) location.hash = hrefFor({ from: from.value, to: to.value });
    } },
    h('label', {}, '从 ', from), h('label', {}, '至 ', to), h('button', { type: 'submit' }, '应用'));
  } else {
    const select = h('select', { name: 'period', 'aria-label': '统计周期', onchange: () => { location.hash = hrefFor({ period: select.value }); } },
      period.recent(current.kind, counts[current.kind]).map((p) => h('option', { value: p, selected: p === current.period }, period.label(p))));
    if (!select.querySelector('[selected]')) select.prepend(h('option', { value: current.period, selected: true }, current.label));
    picker = select;
  }
  return h('div', { class: 'period-bar', role: 'group', 'aria-label': '统计周期' }, kindButtons, picker);
}
