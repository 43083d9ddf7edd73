// 材料与回执: an errand's photos and scans (the API's AttachmentService),
// a section of the errand's view. The list is read afresh whenever the
// view is drawn, 刷新 is pressed, or the tab comes back after its links
// ran out: the download and thumbnail URLs it carries are signed for ten
// minutes and work without the session's token, so they are never kept.
// Opening a file, or showing its thumbnail, is a read the API audits;
// city admins get the list without URLs. The township secretary deletes
// a file with a reason; uploading is the agents' work, in the app.

import * as api from '../api.js';
import { h, when, size, notice, errorPanel, field, inlineForm } from '../ui.js';

const MAX = 500;
const MARGIN_MS = 30_000; // a link this close to its expiry is treated as expired
const READY = 'ATTACHMENT_STATE_READY';
const PURGED = 'ATTACHMENT_STATE_PURGED';

// What a file without a thumbnail shows in its place.
const TYPE_LABELS = { 'application/pdf': 'PDF', 'image/heic': 'HEIC', 'image/jpeg': '图片', 'image/png': '图片' };

// readAttachments reads an errand's attachments, whole up to MAX; a
// failure is kept for the section to show, so it never fails the view.
export const readAttachments = (errand) =>
  api.getAll(`/v1/${errand}/attachments`, 'attachments', {}, MAX).catch((err) => ({ err }));

// expired reports whether an attachment's links no longer work (or are
// about to stop), by the server's clock.
const expired = (a) => Boolean(a.uriExpireTime) && api.serverNow() > Date.parse(a.uriExpireTime) - MARGIN_MS;

// attachmentsSection is the errand's 材料与回执, drawn from first (what
// readAttachments answered); it redraws itself from a fresh read.
export function attachmentsSection(errand, first, user) {
  const body = h('div', { class: 'files-body' });
  const refresh = h('button', { type: 'button', class: 'refresh' }, '刷新');
  const section = h('section', { class: 'attachments', 'aria-labelledby': 'attachments-title' },
    h('div', { class: 'head' }, h('h2', { id: 'attachments-title' }, '材料与回执'), refresh),
    body);
  let shown = [];

  // redraw reads the list again and shows it, with a line said once on top.
  const redraw = async (said) => {
    refresh.disabled = true;
    const hadFocus = section.contains(document.activeElement);
    try {
      draw(await readAttachments(errand), said);
    } finally {
      refresh.disabled = false;
      if (hadFocus && !section.contains(document.activeElement)) refresh.focus();
    }
  };
  refresh.addEventListener('click', () => redraw());

  // A tab left open past the links' lifetime reads the list again when
  // it is looked at; a section no longer on the page stops listening.
  const onVisible = () => {
    if (!section.isConnected) document.removeEventListener('visibilitychange', onVisible);
    else if (document.visibilityState === 'visible' && shown.some(expired)) redraw();
  };
  document.addEventListener('visibilitychange', onVisible);

  // A link clicked after it ran out would open the API's refusal in a new
  // tab: read fresh ones instead, and say so.
  const open = (a) => (e) => {
    if (!expired(a)) return;
    e.preventDefault();
    redraw('链接已过期，已重新获取，请再点一次。');
  };

  const deleteForm = (a, button) => {
    const reason = h('textarea', { name: 'reason', rows: 2, maxlength: 2000, required: true });
    return inlineForm({
      className: 'delete-form', button, submitText: '确认删除',
      fields: [field('删除原因', reason, '例如：拍错了，已重新上传。删除后不再列出，文件按期清除；本操作记入审计日志。')],
      send: async () => {
        await api.call('DELETE', `/v1/${a.name}`, { query: { reason: reason.value.trim() } });
        await redraw(`已删除 ${a.fileName || a.kindDisplayName}。`);
      },
    });
  };

  const item = (a) => {
    const url = a.state === READY ? a.downloadUri : '';
    const placeholder = () => h('span', { class: 'thumb-label' }, a.state === PURGED ? '已清除' : TYPE_LABELS[a.contentType] || '文件');
    let picture = placeholder();
    if (a.state === READY && a.thumbnailUri) {
      // A thumbnail that fails (its link ran out before it scrolled into
      // view, say) gives way to the placeholder.
      picture = h('img', { src: a.thumbnailUri, alt: '', loading: 'lazy', decoding: 'async', width: 72, height: 72,
        onerror: () => picture.replaceWith(placeholder()) });
    }
    const link = (props, ...children) => h('a', { href: url, target: '_blank', rel: 'noopener', onclick: open(a), ...props }, ...children);
    const name = a.fileName || `${a.kindDisplayName}（未命名）`;
    const text = h('div', { class: 'file-text' },
      h('div', { class: 'line' },
        h('span', { class: 'badge kind' }, a.kindDisplayName || a.kind),
        url ? link({ class: 'file-name' }, name) : h('span', { class: 'file-name' }, name),
        a.state === PURGED ? h('span', { class: 'badge gone' }, '已按期清除') : null),
      h('p', { class: 'meta' },
        h('span', { dataset: { field: 'size' } }, size(a.sizeBytes)), ' · ',
        h('span', { dataset: { field: 'uploader' } }, a.uploaderDisplayName || '—'), ' · ',
        h('time', { datetime: a.uploadTime || a.createTime, dataset: { field: 'time' } }, when(a.uploadTime || a.createTime))));
    const li = h('li', { class: 'file', dataset: { name: a.name, state: a.state } },
      // The picture repeats the name's link: one stop for the keyboard and a screen reader.
      url ? link({ class: 'thumb', tabindex: -1, 'aria-hidden': 'true' }, picture) : h('span', { class: 'thumb' }, picture),
      text);
    if (user.role === 'ROLE_TOWNSHIP_SECRETARY') {
      const remove = h('button', { type: 'button', class: 'warn delete', onclick: () => {
        remove.hidden = true;
        const form = deleteForm(a, remove);
        li.append(form);
        form.querySelector('textarea').focus();
      } }, '删除');
      text.append(remove);
    }
    return li;
  };

  const draw = (read, said) => {
    if (read.err) {
      shown = [];
      body.replaceChildren(errorPanel(read.err));
      return;
    }
    shown = read.items;
    const locked = shown.some((a) => a.state === READY && !a.downloadUri);
    body.replaceChildren(...[
      said ? notice('info', said) : null,
      shown.length ? h('p', { class: 'summary', dataset: { count: shown.length } }, `共 ${shown.length} 件，按上传先后排列。`) : null,
      read.capped ? notice('info', `仅列出最早的 ${MAX} 件`) : null,
      locked ? notice('info locked', '文件仅限乡镇、县级查看', '可查看材料清单，不能打开文件。') : null,
      shown.length ? h('ul', { class: 'files' }, shown.map(item)) : notice('empty', '暂无材料', '代办员在手机端上传的材料、回执会列在这里。'),
    ].filter(Boolean));
  };
  draw(first);
  return section;
}
