// Charts with Apache ECharts (vendor/echarts.common.min.js, copied from the
// pinned npm package by `make generate`), loaded on the first chart only.
// A view is built detached from the page; its charts draw once it is on
// the page (drawPending, called by the shell).

let loading = null;
let pending = [];
let live = [];

function load() {
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = 'vendor/echarts.common.min.js';
      s.onload = () => resolve(window.echarts);
      s.onerror = () => reject(new Error('图表组件加载失败'));
      document.head.append(s);
    });
  }
  return loading;
}

// chart asks for option to be drawn in el (an element of the view being
// built); the view's figures and tables do not wait for it.
export function chart(el, option) {
  el.classList.add('chart');
  pending.push({ el, option });
  load().catch(() => {});
  return el;
}

// drawPending draws the charts whose elements are now on the page and
// lets go of those no longer on it.
export async function drawPending() {
  const todo = pending;
  pending = [];
  live = live.filter((c) => {
    if (c.getDom().isConnected) return true;
    c.dispose();
    return false;
  });
  if (!todo.length) return;
  let echarts;
  try {
    echarts = await load();
  } catch (err) {
    for (const { el } of todo) el.textContent = err.message;
    return;
  }
  for (const { el, option } of todo) {
    if (!el.isConnected) continue;
    const c = echarts.init(el, null, { renderer: 'canvas', locale: 'ZH' });
    // The tooltip drawn on the canvas (richText), not as HTML with inline
    // styles, which the Content-Security-Policy refuses; the chart keeps
    // the view's own description for screen readers.
    c.setOption({
      aria: { enabled: true, label: { description: el.getAttribute('aria-label') || undefined } },
      animation: false,
      textStyle: { fontFamily: 'inherit' },
      ...option,
      tooltip: option.tooltip && { renderMode: 'richText', ...option.tooltip },
    });
    live.push(c);
  }
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize();
});

export const PALETTE = ['#c8102e', '#e6a23c', '#409eff', '#67c23a', '#909399'];
