// Charts with Apache ECharts (vendor/echarts.common.min.js, copied from the
// pinned npm package by `make generate`), loaded on the first chart only.
// A view is built detached from the page; its charts draw once it is on
// the page (drawPending, called by the shell).

import { h } from './ui.js';

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

// chart asks for option (or a promise of it) to be drawn in el, an element
// of the view being built; the view's figures and tables do not wait for
// the chart's data or for ECharts.
export function chart(el, option) {
  el.classList.add('chart');
  el.append(h('p', { class: 'loading' }, '图表加载中…'));
  pending.push({ el, option: Promise.resolve(option) });
  load().catch(() => {});
  return el;
}

// drawPending draws the charts whose elements are now on the page and
// lets go of those no longer on it.
export function drawPending() {
  const todo = pending;
  pending = [];
  live = live.filter((c) => {
    if (c.getDom().isConnected) return true;
    c.dispose();
    return false;
  });
  // After the next frame, so the view's figures are painted before the
  // charts take the main thread.
  const painted = new Promise((resolve) => { requestAnimationFrame(() => setTimeout(resolve, 0)); });
  for (const { el, option } of todo) {
    Promise.all([load(), option, painted]).then(([echarts, opt]) => {
      if (!el.isConnected) return;
      el.replaceChildren();
      const c = echarts.init(el, null, { renderer: 'canvas', locale: 'ZH' });
      // The tooltip drawn on the canvas (richText), not as HTML with inline
      // styles, which the Content-Security-Policy refuses; the chart keeps
      // the view's own description for screen readers.
      c.setOption({
        aria: { enabled: true, label: { description: el.getAttribute('aria-label') || undefined } },
        animation: false,
        textStyle: { fontFamily: 'inherit' },
        ...opt,
        tooltip: opt.tooltip && { renderMode: 'richText', ...opt.tooltip },
      });
      live.push(c);
    }, (err) => {
      if (el.isConnected) el.replaceChildren(h('p', { class: 'notice error', role: 'alert' }, `图表加载失败：${err.message || '网络异常'}`));
    });
  }
}

window.addEventListener('resize', () => {
  for (const c of live) c.resize();
});

export const PALETTE = ['#c8102e', '#e6a23c', '#409eff', '#67c23a', '#909399'];
