// Views are hash routes (#/overview/140423100000?period=2026-W49): the
// address bar always says what is on screen, so a view can be shared,
// bookmarked and reloaded.

let rerender = () => {};

// onReplace sets what draws the view after go(…, { replace: true }), which
// fires no hashchange.
export function onReplace(fn) {
  rerender = fn;
}

// route is the current hash parsed: #/screen/arg?query.
export function route() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, query = ''] = raw.split('?');
  const [screen = '', ...rest] = path.split('/');
  return { screen, arg: decodeURIComponent(rest.join('/')), params: new URLSearchParams(query), raw };
}

// link is the hash of a view.
export function link(screen, arg, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const qs = q.toString();
  return `#/${screen}${arg ? `/${encodeURIComponent(arg)}` : ''}${qs ? `?${qs}` : ''}`;
}

export function go(screen, arg, params, { replace } = {}) {
  const target = link(screen, arg, params);
  if (replace) {
    history.replaceState(null, '', target);
    rerender();
  } else {
    location.hash = target;
  }
}


// refresh draws the current view again, after a change made on it.
export function refresh() {
  rerender();
}
