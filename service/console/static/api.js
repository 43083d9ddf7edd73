// The console's one door to the public REST API (/v1, the same contract
// the app and the mini-program use) and to the signed-in session.
//
// Where the tokens live: the access token (15 minutes) only in this
// module's memory, out of reach of other origins and of anything that is
// not this module; the refresh token (one use, rotated on every refresh) in
// sessionStorage, which only this origin's pages in this tab can read, so a
// reload keeps the session and closing the browser ends it (township
// offices share computers). The Content-Security-Policy allows scripts from
// this origin only, and every string from the API is rendered as text, so
// an injected script has no way in to read either.

const REFRESH_KEY = 'redpoint.console.refresh';
const EARLY_MS = 60_000; // refresh this long before the access token expires

let session = null; // { accessToken, expiresAt, user }
let refreshing = null; // the refresh in flight, shared by every caller
let refreshTimer = 0;
let skew = 0; // the server's clock minus this PC's, by the last answer's Date header
const expiredListeners = [];
// Tabs of one session (a duplicated tab starts with its original's
// refresh token) tell each other of a renewal, so the one that did not
// renew takes the new pair instead of presenting the spent token, which
// would revoke the whole family; and of a logout.
const tabs = typeof BroadcastChannel === 'function' ? new BroadcastChannel('redpoint.console.session') : null;

// ApiError is an API answer other than 2xx: its HTTP status, its gRPC code
// name, the zh-CN message (the LocalizedMessage detail) and the field
// violations of a bad request, by field.
export class ApiError extends Error {
  constructor(status, body) {
    const details = (body && body.details) || [];
    const localized = details.find((d) => (d['@type'] || '').endsWith('google.rpc.LocalizedMessage'));
    super((localized && localized.message) || (body && body.message) || `请求失败（HTTP ${status}）`);
    this.status = status;
    this.code = body && body.code;
    this.fields = {};
    for (const d of details) {
      if ((d['@type'] || '').endsWith('google.rpc.BadRequest')) {
        for (const v of d.fieldViolations || []) {
          this.fields[v.field] = v.localizedMessage ? v.localizedMessage.message : v.description;
        }
      }
    }
  }
}

// onExpired registers what to do when the session cannot be renewed.
export function onExpired(fn) {
  expiredListeners.push(fn);
}

export function user() {
  return session && session.user;
}

// serverNow is the time by the server's clock (to the second, as its
// answers' Date header says), for what it signs until a time of its own:
// an office PC's clock may be minutes off.
export const serverNow = () => Date.now() + skew;

// served notes the server's clock from an answer and returns it (ms; NaN
// when the answer has no Date header).
function served(res) {
  const at = Date.parse(res.headers.get('Date') || '');
  if (at) skew = at - Date.now();
  return at;
}

if (tabs) {
  tabs.onmessage = ({ data }) => {
    if (!data || data.spent !== sessionStorage.getItem(REFRESH_KEY)) return;
    if (data.session) adopt(data.session);
    else {
      forget();
      for (const fn of expiredListeners) fn();
    }
  };
}

function adopt(s) {
  session = {
    accessToken: s.accessToken,
    expiresAt: s.expiresIn ? Date.now() + s.expiresIn : Date.parse(s.accessTokenExpireTime),
    user: s.user,
    adoptedAt: Date.now(),
  };
  sessionStorage.setItem(REFRESH_KEY, s.refreshToken);
  clearTimeout(refreshTimer);
  // Jittered, so tabs holding one session do not renew in the same instant.
  const wait = Math.max(5_000, session.expiresAt - Date.now() - EARLY_MS - Math.random() * 20_000);
  refreshTimer = setTimeout(() => { renew().catch(() => {}); }, wait);
}

function forget() {
  session = null;
  clearTimeout(refreshTimer);
  sessionStorage.removeItem(REFRESH_KEY);
}

async function post(path, body) {
  const res = await fetch(path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(body),
    credentials: 'omit',
  });
  const json = await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(res.status, json);
  // The token's lifetime by the server's clock: a PC whose clock is off
  // (many office PCs keep no time) must not think it already expired.
  const at = served(res);
  if (json && json.accessTokenExpireTime && at) json.expiresIn = Date.parse(json.accessTokenExpireTime) - at;
  return json;
}

export async function login(phone, password) {
  adopt(await post('/v1/auth:login', { phone, password }));
  return session.user;
}

// renew trades the stored refresh token for a new session, once at a
// time however many callers ask, and one tab at a time: under a Web Lock
// shared by this origin's tabs, a tab that waited for another's renewal
// takes the session that tab broadcast instead of renewing again.
function renew() {
  if (!refreshing) {
    const asked = Date.now();
    const once = async () => {
      if (session && session.adoptedAt > asked) return session.user;
      const token = sessionStorage.getItem(REFRESH_KEY);
      if (!token) throw new ApiError(401, null);
      const s = await post('/v1/auth:refresh', { refreshToken: token });
      adopt(s);
      if (tabs) {
        tabs.postMessage({ spent: token, session: s });
        // Hold the lock while the message reaches the other tabs, so one
        // waiting for it finds the new session when it gets the lock.
        await new Promise((resolve) => { setTimeout(resolve, 250); });
      }
      return session.user;
    };
    refreshing = (navigator.locks ? navigator.locks.request('redpoint.console.renew', once) : once())
      .catch((err) => {
        if (!(err instanceof ApiError) || err.status < 500) {
          forget();
          for (const fn of expiredListeners) fn();
        }
        throw err;
      })
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

// resume restores the session after a reload; null when there is none.
export async function resume() {
  if (session) return session.user;
  if (!sessionStorage.getItem(REFRESH_KEY)) return null;
  try {
    return await renew();
  } catch {
    return null;
  }
}

export async function logout() {
  const token = sessionStorage.getItem(REFRESH_KEY);
  forget();
  if (token) {
    if (tabs) tabs.postMessage({ spent: token });
    await post('/v1/auth:logout', { refreshToken: token }).catch(() => {});
  }
}

async function accessToken() {
  if (!session) return renew().then(() => session.accessToken);
  if (session.expiresAt - Date.now() < 10_000) await renew();
  return session.accessToken;
}

function url(path, query) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v !== undefined && v !== null && v !== '') q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

// call sends one API request with the session's token, renewing the
// session once if the server says the token has expired. It answers the
// decoded JSON, or with { blob: true } the body and its file name.
export async function call(method, path, { query, body, blob } = {}) {
  for (let attempt = 0; ; attempt++) {
    const token = await accessToken();
    const res = await fetch(url(path, query), {
      method,
      headers: {
        Authorization: `Bearer ${token}`,
        Accept: blob ? '*/*' : 'application/json',
        ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
    });
    served(res);
    if (res.status === 401 && attempt === 0) {
      await renew();
      continue;
    }
    if (!res.ok) {
      const json = await res.json().catch(() => null);
      if (res.status === 401) {
        forget();
        for (const fn of expiredListeners) fn();
      }
      throw new ApiError(res.status, json);
    }
    if (blob) {
      const disposition = res.headers.get('Content-Disposition') || '';
      const m = /filename\*=UTF-8''([^;]+)/i.exec(disposition) || /filename="?([^";]+)"?/i.exec(disposition);
      return { blob: await res.blob(), fileName: m ? decodeURIComponent(m[1]) : 'download.xlsx' };
    }
    return res.json();
  }
}

export const get = (path, query) => call('GET', path, { query });

// getAll reads a list 500 at a time while it has a next page, up to max
// items: the first page's answer (its other fields, totalSize say), the
// items under key, and whether max cut the list short.
export async function getAll(path, key, query, max) {
  const first = await get(path, { ...query, pageSize: 500 });
  const items = [...first[key]];
  let pageToken = first.nextPageToken;
  while (pageToken && items.length < max) {
    const page = await get(path, { ...query, pageSize: 500, pageToken });
    items.push(...page[key]);
    pageToken = page.nextPageToken;
  }
  return { first, items, capped: Boolean(pageToken) };
}
