// Log in and register.
import { html, useEffect, useRef, useState } from '../lib.js';
import { t } from '../i18n.js';
import { call, humanError, why } from '../api.js';
import { logIn } from '../session.js';
import { set } from '../store.js';
import { Msg } from './common.js';

const md5 = (s) => window.YunMD5.ofString(s);

export function Login({ s }) {
  const pre = s.prefill || {};
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState(null);
  const userRef = useRef(null);
  // The form takes the focus when nothing else has it (first load, after
  // a sign-out), and when the session ended with a message.
  useEffect(() => {
    const idle = !document.activeElement || document.activeElement === document.body;
    if (userRef.current && (idle || (s.loginMsg && s.loginMsg.kind === 'err'))) userRef.current.focus();
  }, [s.loginMsg]);
  const shown = msg || s.loginMsg;
  const submit = async (e) => {
    e.preventDefault();
    const f = e.currentTarget;
    const user = f.elements.user.value.trim();
    const pwd = f.elements.pwd.value;
    setBusy(true);
    setMsg({ text: t('login.busy') });
    try {
      const err = await logIn(user, md5(pwd));
      if (err) setMsg({ text: err, kind: 'err' });
    } catch (ex) {
      setMsg({ text: humanError(ex), kind: 'err' });
    } finally {
      setBusy(false);
    }
  };
  return html`<section id="view-login" class="card narrow" aria-labelledby="login-h">
    <h1 id="login-h">${t('login.title')}</h1>
    <form id="login-form" autocomplete="on" onSubmit=${submit}>
      <label for="login-user">${t('login.user')}</label>
      <input id="login-user" name="user" ref=${userRef} required minlength="3" maxlength="32"
        autocomplete="username" defaultValue=${pre.user || ''} />
      <label for="login-pwd">${t('login.pwd')}</label>
      <input id="login-pwd" name="pwd" type="password" required minlength="6" maxlength="64"
        autocomplete="current-password" defaultValue=${pre.pwd || ''} />
      <button id="login-btn" type="submit" disabled=${busy}>${t('login.submit')}</button>
    </form>
    <${Msg} id="login-msg" msg=${shown} />
    <p>${t('login.noAccount')} <a href="#/register" id="show-reg">${t('login.toReg')}</a></p>
  </section>`;
}

export function Register() {
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    const v = (n) => e.currentTarget.elements[n].value;
    const user = v('user').trim(), nick = v('nick').trim(), pwd = v('pwd'), pwd2 = v('pwd2');
    const phone = v('phone').trim(), email = v('email').trim();
    const bad = (k) => setMsg({ text: t(k), kind: 'err' });
    if (!/^[A-Za-z0-9_@.-]{3,32}$/.test(user)) return bad('reg.badUser');
    if (pwd.length < 6) return bad('reg.badPwd');
    if (pwd !== pwd2) return bad('reg.pwdDiffer');
    if (!/^1\d{10}$/.test(phone)) return bad('reg.badPhone');
    setBusy(true);
    setMsg({ text: t('reg.busy') });
    try {
      const res = await call('/reg', { userName: user, nickName: nick, firstPwd: md5(pwd), phone, email });
      if (res.code === '002') {
        set({ prefill: { user, pwd }, loginMsg: { text: t('login.registered'), kind: 'ok' } });
        location.hash = '#/files';
        return;
      }
      if (res.code === '003') return bad('reg.taken');
      setMsg({ text: t('reg.failed', { msg: why(res) }), kind: 'err' });
    } catch (ex) {
      setMsg({ text: humanError(ex), kind: 'err' });
    } finally {
      setBusy(false);
    }
  };
  const field = (id, name, label, attrs) => html`<label for=${id}>${label}</label><input id=${id} name=${name} ...${attrs} />`;
  return html`<section id="view-reg" class="card narrow" aria-labelledby="reg-h">
    <h1 id="reg-h">${t('reg.title')}</h1>
    <form id="reg-form" autocomplete="off" onSubmit=${submit}>
      ${field('reg-user', 'user', t('reg.user'), { required: true, minlength: 3, maxlength: 32, placeholder: t('reg.userHint'), autocomplete: 'username' })}
      ${field('reg-nick', 'nick', t('reg.nick'), { required: true, maxlength: 32 })}
      ${field('reg-pwd', 'pwd', t('reg.pwd'), { type: 'password', required: true, minlength: 6, maxlength: 64, autocomplete: 'new-password' })}
      ${field('reg-pwd2', 'pwd2', t('reg.pwd2'), { type: 'password', required: true, minlength: 6, maxlength: 64, autocomplete: 'new-password' })}
      ${field('reg-phone', 'phone', t('reg.phone'), { required: true, inputmode: 'tel', placeholder: '1xxxxxxxxxx', autocomplete: 'tel' })}
      ${field('reg-email', 'email', t('reg.email'), { type: 'email', required: true, autocomplete: 'email' })}
      <button id="reg-btn" type="submit" disabled=${busy}>${t('reg.submit')}</button>
    </form>
    <${Msg} id="reg-msg" msg=${msg} />
    <p><a href="#/files" id="show-login">${t('reg.back')}</a></p>
  </section>`;
}
