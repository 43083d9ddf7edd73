// 审计: the audit log of the admin's region, newest first; full reads of
// personal data can be listed on their own.

import * as api from '../api.js';
import { h, when, codeOf, ROLE_NAMES, empty, moreButton } from '../ui.js';
import { link } from '../router.js';
import { chain, breadcrumbs } from '../parts.js';

const PAGE = 100;

// What an RPC or a signed-URL route (by its whole action) did, in words;
// the method name otherwise.
const ACTIONS = {
  GetErrand: '查看事项完整信息', CreateErrand: '登记事项', UpdateErrand: '修改事项', StartErrand: '开始办理',
  ForwardErrand: '转办', RequestErrandMaterials: '要求补正', CompleteErrand: '办结', CancelErrand: '撤销',
  CloseFollowUp: '办结回访', CreateUser: '新建账号', UpdateUser: '修改账号', ResetUserPassword: '重置密码',
  BindPhone: '绑定手机', RateMyErrand: '评价', ExportWorkload: '导出报表', DownloadReportSnapshot: '下载报表',
  CreateAttachmentUpload: '登记上传附件', DeleteAttachment: '删除附件',
  'PUT /v1/uploads': '上传附件', 'GET /v1/files': '打开附件', 'GET /v1/files (thumbnail)': '查看附件缩略图',
};

export async function audit({ arg, params, user }) {
  const code = arg || codeOf(user.region);
  const unmasked = params.get('unmasked') === '1';
  const filter = unmasked ? 'unmasked_read = true' : '';
  const list = (pageToken) => api.get(`/v1/regions/${encodeURIComponent(code)}/auditEntries`, { pageSize: PAGE, pageToken, filter });
  const [crumbs, first] = await Promise.all([chain(code, codeOf(user.region)), list('')]);
  const body = h('tbody');
  const more = moreButton(first, {
    body,
    next: list,
    rowsOf: (page) => page.auditEntries.map((a) => {
      const method = a.action.split('/').pop();
      return h('tr', { class: a.unmaskedRead ? 'mine' : '' },
        h('td', {}, when(a.createTime)),
        h('td', {}, a.actor),
        h('td', {}, ROLE_NAMES[a.actorRole] || a.actorRole),
        h('td', { title: a.action }, ACTIONS[a.action] || ACTIONS[method] || method),
        h('td', {}, a.resource),
        h('td', {}, a.region),
        h('td', {}, a.clientIp),
        h('td', {}, a.unmaskedRead ? '是' : ''));
    }),
  });
  const here = crumbs[crumbs.length - 1];
  return h('section', {},
    h('h1', {}, `${here.displayName} · 审计日志`),
    breadcrumbs(crumbs, 'audit', unmasked ? { unmasked: '1' } : {}),
    h('nav', { class: 'tabs', 'aria-label': '筛选' },
      h('a', { href: link('audit', code), class: `chip${unmasked ? '' : ' on'}`, 'aria-current': unmasked ? null : 'true' }, '全部操作'),
      h('a', { href: link('audit', code, { unmasked: '1' }), class: `chip${unmasked ? ' on' : ''}`, 'aria-current': unmasked ? 'true' : null }, '只看查看完整个人信息')),
    first.auditEntries.length ? h('div', { class: 'table-wrap' }, h('table', {},
      h('thead', {}, h('tr', {}, ['时间', '操作人', '角色', '操作', '对象', '所属区域', '来源地址', '完整个人信息'].map((t) => h('th', { scope: 'col' }, t)))),
      body)) : empty('没有审计记录。'),
    more);
}
