// The console's shell: the session, the menu, and which view to draw.

import * as api from './api.js';
import { h, ROLE_NAMES, codeOf, errorPanel, notice } from './ui.js';
import * as screens from './screens/index.js';
import { route, link, go, onReplace } from './router.js';
import { drawPending } from './charts.js';

const main = document.getElementById('main');
let renderSeq = 0;
let shownPath = '';

// keyOf names a control so the redrawn view's twin can be found.
function keyOf(el) {
  if (el.dataset && el.dataset.sort) return `[data-sort="${CSS.escape(el.dataset.sort)}"]`;
  if (el.name) return `${el.tagName.toLowerCase()}[name="${CSS.escape(el.name)}"]`;
  if (el.getAttribute && el.getAttribute('href')) return `a[href="${CSS.escape(el.getAttribute('href'))}"]`;
  return null;
}

// The menu, by role: what the API lets each role read. A village
// secretary oversees its village: no reports (the township's), no
// accounts, no audit log.
function menu(user) {
  const scope = codeOf(user.region);
  const village = user.role === 'ROLE_VILLAGE_SECRETARY';
  const items = [['overview', '概览'], ['overdue', '超期'], ['followups', '回访'], ['leaderboard', '太行先锋']];
  if (!village) items.push(['reports', '报表']);
  if (user.role === 'ROLE_COUNTY_ADMIN' || user.role === 'ROLE_CITY_ADMIN') items.push(['audit', '审计']);
  if (user.role !== 'ROLE_AGENT' && !village) items.push(['accounts', '账号']);
  return items.map(([screen, text]) => ({ screen, text, href: link(screen, screen === 'leaderboard' ? '' : scope) }));
}

// opens reports whether the user's menu leads to a screen (an errand and a
// point are reached from the overdue list and the overview). A village
// secretary typing #/accounts is told so without asking the API.
function opens(user, screen) {
  return user.role !== 'ROLE_VILLAGE_SECRETARY' || screen === 'errand' || screen === 'point' ||
    menu(user).some((m) => m.screen === screen);
}

function renderShell(user) {
  const top = document.getElementById('top');
  const nav = document.getElementById('nav');
  if (!user) {
    top.hidden = true;
    return;
  }
  top.hidden = false;
  const current = route().screen === 'errand' ? 'overdue' : route().screen;
  nav.replaceChildren(...menu(user).map((m) =>
    h('a', { href: m.href, 'aria-current': m.screen === current ? 'page' : null }, m.text)));
  document.getElementById('who').textContent = `${user.displayName}（${ROLE_NAMES[user.role] || user.role}）`;
}

// render draws the view the hash names. A view renders into a detached
// node, which replaces the page only when it is ready and still wanted:
// a slow answer never overwrites a newer view.
export async function render() {
  const seq = ++renderSeq;
  const r = route();
  let user = api.user() || (await api.resume());
  if (seq !== renderSeq) return;
  if (r.screen !== 'login' && !user) {
    go('login', '', { next: r.raw || '' }, { replace: true });
    return;
  }
  if (r.screen === 'login' && user) {
    location.replace(`#/${r.params.get('next') || ''}`);
    return;
  }
  if (user && user.role === 'ROLE_AGENT' && r.screen !== 'login') {
    renderShell(null);
    main.replaceChildren(h('div', { class: 'notice error denied', role: 'alert' },
      h('strong', {}, '无权限'), h('p', {}, '控制台供村书记、乡镇书记和县、市管理员使用；代办员请使用手机端。'),
      h('button', { type: 'button', onclick: async () => { await api.logout(); render(); } }, '退出登录')));
    return;
  }
  renderShell(user);
  const screen = screens.byName[r.screen];
  if (!screen) {
    go('overview', codeOf(user.region), {}, { replace: true });
    return;
  }
  if (user && !opens(user, r.screen)) {
    main.replaceChildren(notice('error denied', '无权限', '村书记可查看本村的概览、超期事项、回访和太行先锋排名。'));
    document.title = '无权限 · 红色代办';
    return;
  }
  const slow = setTimeout(() => {
    if (seq === renderSeq) main.setAttribute('aria-busy', 'true');
  }, 150);
  let view;
  try {
    view = await screen({ arg: r.arg, params: r.params, user, seq: () => seq === renderSeq });
  } catch (err) {
    if (err instanceof api.ApiError && err.status === 401) return; // onExpired has taken over
    if (!(err instanceof api.ApiError)) console.error(err);
    view = errorPanel(err);
  } finally {
    clearTimeout(slow);
  }
  if (seq !== renderSeq) return;
  main.removeAttribute('aria-busy');
  // A new view takes the focus (a keyboard's next Tab is in it); a view
  // redrawn for a new sort or period keeps it where it was, if it can.
  const path = `${r.screen}/${r.arg}`;
  const keep = path === shownPath && main.contains(document.activeElement) ? keyOf(document.activeElement) : null;
  shownPath = path;
  main.replaceChildren(view);
  const again = keep && main.querySelector(keep);
  if (!again) window.scrollTo(0, 0); // a new view opens at its top, the menu on screen
  (main.querySelector('[autofocus]') || again || main).focus({ preventScroll: true });
  drawPending();
  document.title = `${main.querySelector('h1')?.textContent || '控制台'} · 红色代办`;
}

api.onExpired(() => {
  const r = route();
  if (r.screen !== 'login') go('login', '', { next: r.raw, expired: '1' }, { replace: true });
});

document.getElementById('logout').addEventListener('click', async () => {
  await api.logout();
  go('login', '', {}, { replace: true });
});
onReplace(render);
// The skip link moves the focus without touching the hash (the router's).
document.querySelector('.skip').addEventListener('click', (e) => {
  e.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', render);
render();
