// 账号: the accounts in the manager's region; create an account of a role
// below one's own, reset a password, deactivate or reactivate. The API
// decides what is allowed; its refusals are shown beside the form.

import * as api from '../api.js';
import { h, codeOf, idOf, ROLE_NAMES, empty, notice, say, field, showViolations, flash, moreButton } from '../ui.js';
import { refresh } from '../router.js';
import { chain, breadcrumbs, region } from '../parts.js';

const PAGE = 100;
let created = ''; // what the last create made, said once on the redrawn page
// The roles each manager may create, and the level of region each is scoped to.
const CREATES = {
  ROLE_TOWNSHIP_SECRETARY: ['ROLE_AGENT', 'ROLE_VILLAGE_SECRETARY'],
  ROLE_COUNTY_ADMIN: ['ROLE_TOWNSHIP_SECRETARY', 'ROLE_VILLAGE_SECRETARY', 'ROLE_AGENT'],
  ROLE_CITY_ADMIN: ['ROLE_COUNTY_ADMIN', 'ROLE_TOWNSHIP_SECRETARY', 'ROLE_VILLAGE_SECRETARY', 'ROLE_AGENT'],
};
const SCOPE_LEVEL = {
  ROLE_COUNTY_ADMIN: 'REGION_LEVEL_COUNTY', ROLE_TOWNSHIP_SECRETARY: 'REGION_LEVEL_TOWNSHIP', ROLE_VILLAGE_SECRETARY: 'REGION_LEVEL_VILLAGE',
};

const pages = async (path, key, query, max) => (await api.getAll(path, key, query, max)).items;

// regionsAt lists the regions of a level inside a region, walking down.
async function regionsAt(code, level) {
  const here = await api.get(`/v1/regions/${code}`);
  if (here.level === level) return [here];
  const children = await pages('/v1/regions', 'regions', { parent: `regions/${code}` }, 5000);
  const found = await Promise.all(children.map((c) => (c.level === level ? [c] : regionsAt(codeOf(c.name), level))));
  return found.flat();
}

function createForm(user, code) {
  const roles = CREATES[user.role] || [];
  const role = h('select', { name: 'role', required: true }, roles.map((r) => h('option', { value: r }, ROLE_NAMES[r])));
  const phone = h('input', { name: 'phone', type: 'tel', inputmode: 'numeric', maxlength: 11, required: true, autocomplete: 'off' });
  const name = h('input', { name: 'displayName', maxlength: 32, required: true, autocomplete: 'off' });
  const password = h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' });
  const where = h('select', { name: 'region', required: true });
  const whereField = field('管辖区域', where);
  // The list follows the role; a slow answer for a role no longer chosen
  // is dropped.
  let filling = 0;
  const fillWhere = async () => {
    const seq = ++filling;
    const agent = role.value === 'ROLE_AGENT';
    const key = agent ? 'servicePoint' : 'region';
    where.name = key;
    whereField.querySelector('label').textContent = agent ? '代办点' : '管辖区域';
    whereField.querySelector('.violation').dataset.for = key;
    where.replaceChildren(h('option', { value: '' }, '加载中…'));
    let options;
    try {
      options = agent
        ? (await pages('/v1/servicePoints', 'servicePoints', { parent: `regions/${code}` }, 5000)).map((p) => h('option', { value: p.name }, p.displayName))
        : (await regionsAt(code, SCOPE_LEVEL[role.value])).map((r) => h('option', { value: r.name }, r.displayName));
      if (!options.length) options = [h('option', { value: '' }, '本区域内没有可选项')];
    } catch (err) {
      options = [h('option', { value: '' }, say(err, '加载失败'))];
    }
    if (seq === filling) where.replaceChildren(...options);
  };
  role.addEventListener('change', fillWhere);
  fillWhere();
  const form = h('form', { class: 'create-form' },
    h('h2', {}, '新建账号'),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'grid' }, field('角色', role), field('姓名', name), field('手机号', phone), whereField,
      field('初始密码', password, '至少 8 位；请当面告知本人。')),
    h('button', { type: 'submit', class: 'primary' }, '创建'));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const account = { phone: phone.value.trim(), displayName: name.value.trim(), role: role.value };
    account[where.name] = where.value;
    try {
      const made = await api.call('POST', '/v1/users', { body: { user: account, password: password.value } });
      created = `已创建账号：${made.displayName}（${ROLE_NAMES[made.role] || made.role}，${made.phone}）。`;
      refresh();
    } catch (err) {
      showViolations(form, err);
    }
  });
  return form;
}

// nameCell shows a region's or a point's name once it is known (public
// reads, remembered for the session), its resource name until then.
const names = new Map();
function nameCell(resource) {
  const cell = h('td', { title: resource }, resource);
  if (!names.has(resource)) {
    names.set(resource, (resource.startsWith('regions/') ? region(codeOf(resource)) : api.get(`/v1/${resource}`))
      .then((r) => r.displayName, () => resource));
  }
  names.get(resource).then((name) => { cell.textContent = name; });
  return cell;
}

export async function accounts({ arg, user }) {
  const code = arg || codeOf(user.region);
  const list = (pageToken) => api.get('/v1/users', { parent: `regions/${code}`, pageSize: PAGE, pageToken });
  const [crumbs, first] = await Promise.all([chain(code, codeOf(user.region)), list('')]);
  const body = h('tbody');

  const row = (u) => {
    const mine = u.name === user.name;
    const actions = h('td', { class: 'actions' });
    if (!mine) {
      const reset = h('button', { type: 'button', onclick: () => {
        reset.hidden = true;
        const pw = h('input', { name: 'password', type: 'password', minlength: 8, required: true, autocomplete: 'new-password' });
        const form = h('form', { class: 'inline-form' }, h('p', { class: 'form-error', role: 'alert' }), field(`${u.displayName}的新密码`, pw),
          h('button', { type: 'submit', class: 'primary' }, '确认重置'),
          h('button', { type: 'button', onclick: () => { form.remove(); reset.hidden = false; reset.focus(); } }, '取消'));
        form.addEventListener('submit', async (e) => {
          e.preventDefault();
          try {
            await api.call('POST', `/v1/${u.name}:resetPassword`, { body: { password: pw.value } });
            form.replaceWith(h('span', { role: 'status' }, '密码已重置'));
            reset.hidden = false;
          } catch (err) {
            showViolations(form, err);
          }
        });
        actions.append(form);
        pw.focus();
      } }, '重置密码');
      // Deactivating ends the account's sessions: it asks twice (a
      // second click within 5 s), without a dialog.
      let armed = 0;
      const toggle = h('button', { type: 'button', class: u.active ? 'warn' : '', onclick: async () => {
        if (u.active && !armed) {
          toggle.textContent = '确认停用？';
          armed = setTimeout(() => { armed = 0; toggle.textContent = '停用'; }, 5000);
          return;
        }
        clearTimeout(armed);
        toggle.disabled = true;
        try {
          await api.call('PATCH', `/v1/${u.name}`, { query: { updateMask: 'active' }, body: { active: !u.active, etag: u.etag } });
          refresh();
        } catch (err) {
          toggle.disabled = false;
          flash(toggle, err);
        }
      } }, u.active ? '停用' : '启用');
      actions.append(reset, toggle);
    }
    return h('tr', { class: u.active ? '' : 'inactive', dataset: { user: idOf(u.name) } },
      h('td', {}, u.displayName, mine ? h('span', { class: 'badge' }, '本人') : null),
      h('td', {}, u.phone),
      h('td', {}, ROLE_NAMES[u.role] || u.role),
      nameCell(u.servicePoint || u.region),
      h('td', {}, u.active ? '正常' : '已停用'),
      actions);
  };
  const more = moreButton(first, { body, next: list, rowsOf: (page) => page.users.map(row) });
  const here = crumbs[crumbs.length - 1];
  return h('section', { class: 'accounts' },
    h('h1', {}, `${here.displayName} · 账号管理`),
    breadcrumbs(crumbs, 'accounts', {}),
    created ? notice('info', (() => { const said = created; created = ''; return said; })()) : null,
    CREATES[user.role] ? createForm(user, code) : null,
    h('h2', {}, '账号列表'),
    first.users.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['姓名', '手机号', '角色', '代办点 / 区域', '状态', '操作'].map((t) => h('th', { scope: 'col' }, t)))),
      body)) : empty('没有账号。'),
    more);
}
