// Periods as the API spells them (2026-W49, 2026-12, 2026-Q4, 2026), in
// Asia/Shanghai, and the custom range (from/to dates, both inclusive).

const DAY = 86_400_000;

// today is Shanghai's calendar date, as a UTC midnight Date.
export function today() {
  const parts = new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' })
    .format(new Date());
  return new Date(`${parts}T00:00:00Z`);
}

const pad = (n) => String(n).padStart(2, '0');
export const isoDate = (d) => d.toISOString().slice(0, 10);

// isoWeek is the ISO 8601 week of a UTC-midnight date: [year, week].
export function isoWeek(d) {
  const t = new Date(d.getTime());
  const dow = (t.getUTCDay() + 6) % 7; // Monday 0
  t.setUTCDate(t.getUTCDate() - dow + 3); // the week's Thursday
  const year = t.getUTCFullYear();
  const week = 1 + Math.floor((t - Date.UTC(year, 0, 1)) / DAY / 7);
  return [year, week];
}

export function weekOf(d) {
  const [y, w] = isoWeek(d);
  return `${y}-W${pad(w)}`;
}

// mondayOf is the first day of an ISO week.
export function mondayOf(period) {
  const [, y, w] = /^(\d{4})-W(\d{2})$/.exec(period).map(Number);
  const jan4 = new Date(Date.UTC(y, 0, 4));
  const monday1 = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * DAY);
  return new Date(monday1.getTime() + (w - 1) * 7 * DAY);
}

export const KINDS = [
  { kind: 'week', label: '周' },
  { kind: 'month', label: '月' },
  { kind: 'quarter', label: '季度' },
  { kind: 'year', label: '年' },
  { kind: 'custom', label: '自定义' },
];

export function kindOf(period) {
  if (/^\d{4}-W(0[1-9]|[1-4]\d|5[0-3])$/.test(period)) return 'week';
  if (/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) return 'month';
  if (/^\d{4}-Q[1-4]$/.test(period)) return 'quarter';
  if (/^\d{4}$/.test(period)) return 'year';
  return '';
}

export function current(kind, d = today()) {
  const y = d.getUTCFullYear(), m = d.getUTCMonth() + 1;
  switch (kind) {
    case 'week': return weekOf(d);
    case 'quarter': return `${y}-Q${Math.ceil(m / 3)}`;
    case 'year': return String(y);
    default: return `${y}-${pad(m)}`;
  }
}

// recent lists the current period of a kind and the ones before it, newest first.
export function recent(kind, n) {
  const out = [];
  let d = today();
  for (let i = 0; i < n; i++) {
    const p = current(kind, d);
    out.push(p);
    // step back into the previous period
    const start = bounds(p)[0];
    d = new Date(start.getTime() - DAY);
  }
  return out;
}

// bounds is a period's first day and the day after its last, UTC midnights.
export function bounds(period) {
  switch (kindOf(period)) {
    case 'week': {
      const mon = mondayOf(period);
      return [mon, new Date(mon.getTime() + 7 * DAY)];
    }
    case 'month': {
      const [y, m] = period.split('-').map(Number);
      return [new Date(Date.UTC(y, m - 1, 1)), new Date(Date.UTC(y, m, 1))];
    }
    case 'quarter': {
      const y = Number(period.slice(0, 4)), q = Number(period.slice(6));
      return [new Date(Date.UTC(y, (q - 1) * 3, 1)), new Date(Date.UTC(y, q * 3, 1))];
    }
    default: {
      const y = Number(period);
      return [new Date(Date.UTC(y, 0, 1)), new Date(Date.UTC(y + 1, 0, 1))];
    }
  }
}

export function label(period) {
  switch (kindOf(period)) {
    case 'week': {
      const [start, end] = bounds(period);
      const last = new Date(end.getTime() - DAY);
      return `${period.slice(0, 4)}年第${Number(period.slice(6))}周（${start.getUTCMonth() + 1}.${start.getUTCDate()}–${last.getUTCMonth() + 1}.${last.getUTCDate()}）`;
    }
    case 'month': return `${period.slice(0, 4)}年${Number(period.slice(5))}月`;
    case 'quarter': return `${period.slice(0, 4)}年第${period.slice(6)}季度`;
    case 'year': return `${period}年`;
    default: return period;
  }
}

// shanghaiStart is a Shanghai midnight as the API's RFC 3339 time.
export const shanghaiStart = (d) => `${isoDate(d)}T00:00:00+08:00`;

// weeksEnding lists n ISO weeks, oldest first, the last holding day d.
export function weeksEnding(d, n) {
  const out = [];
  for (let i = n - 1; i >= 0; i--) out.push(weekOf(new Date(d.getTime() - i * 7 * DAY)));
  return out;
}

export const addDays = (d, n) => new Date(d.getTime() + n * DAY);
