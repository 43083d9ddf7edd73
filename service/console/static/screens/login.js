// 登录: phone and password; back to the page that sent you here.

import * as api from '../api.js';
import { h, field, showViolations } from '../ui.js';

export async function login({ params }) {
  const phone = h('input', { name: 'phone', type: 'tel', autocomplete: 'username', inputmode: 'numeric', required: true, maxlength: 11, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary' }, '登录');
  const form = h('form', { class: 'login', novalidate: true },
    h('h1', {}, '红色代办 · 管理控制台'),
    params.get('expired') ? h('p', { class: 'notice info', role: 'status' }, '登录已过期，请重新登录；登录后回到原来的页面。') : null,
    h('p', { class: 'form-error', role: 'alert' }),
    field('手机号', phone),
    field('密码', password),
    submit);
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    submit.disabled = true;
    submit.textContent = '登录中…';
    try {
      await api.login(phone.value.trim(), password.value);
      location.replace(`#/${params.get('next') || ''}`); // Back then skips the login
    } catch (err) {
      showViolations(form, err);
      password.value = '';
      password.focus();
    } finally {
      submit.disabled = false;
      submit.textContent = '登录';
    }
  });
  return h('section', { class: 'login-page' }, form);
}
