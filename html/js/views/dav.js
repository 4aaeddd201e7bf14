// WebDAV: the address to mount the files as a drive, and the app passwords
// WebDAV clients sign in with (the login password never works there). A new
// password is shown once, right after it is made.
import { html, useEffect, useState } from '../lib.js';
import { fmtDate, t } from '../i18n.js';
import { call, humanError } from '../api.js';
import { load } from '../data.js';
import { state } from '../store.js';
import { ListState, Msg } from './common.js';

function loadAppPasswords() {
  return load('apppass', async () => {
    const res = await call('/apppass?cmd=list', {});
    if (res.code !== '100') throw Object.assign(new Error(res.code), { kind: 'server' });
    return { files: res.passwords || [] };
  });
}

function Copy({ id, text, label }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try { await navigator.clipboard.writeText(text); setDone(true); } catch (e) { setDone(false); }
  };
  return html`<button id=${id} type="button" class="light" aria-label=${label} onClick=${copy}>${done ? t('dav.copied') : t('dav.copy')}</button>`;
}

export function DavView({ s }) {
  const list = s.lists.apppass || {};
  const [label, setLabel] = useState('');
  const [made, setMade] = useState(null);
  const [msg, setMsg] = useState(null);
  useEffect(() => { loadAppPasswords(); }, []);
  const url = location.origin + '/dav/';
  const user = state.session ? state.session.user : '';
  const create = async (e) => {
    e.preventDefault();
    setMsg(null);
    try {
      const res = await call('/apppass?cmd=create', { label: label.trim() });
      if (res.code !== '100') { setMsg({ text: t('dav.createFailed', { why: res.msg || res.code }), kind: 'err' }); return; }
      setMade({ label: label.trim(), password: res.password });
      setLabel('');
      await loadAppPasswords();
    } catch (err) {
      if (err.kind !== 'expired') setMsg({ text: humanError(err), kind: 'err' });
    }
  };
  const revoke = async (p) => {
    setMsg(null);
    try {
      const res = await call('/apppass?cmd=revoke', { id: p.id });
      setMsg(res.code === '100' ? { text: t('dav.revoked', { label: p.label }), kind: 'ok' } : { text: t('dav.revokeFailed', { label: p.label }), kind: 'err' });
      if (made && made.label === p.label) setMade(null);
      await loadAppPasswords();
      const h = document.getElementById('dav-h');
      if (h) h.focus();
    } catch (err) {
      if (err.kind !== 'expired') setMsg({ text: humanError(err), kind: 'err' });
    }
  };
  const rows = list.data ? list.data.files : [];
  return html`<div id="tab-dav" class="card tabpane">
    <h2 id="dav-h" tabindex="-1">${t('nav.dav')}</h2>
    <p>${t('dav.intro')}</p>
    <dl class="dav-addr">
      <dt>${t('dav.url')}</dt><dd><code id="dav-url">${url}</code> <${Copy} id="dav-url-copy" text=${url} label=${t('dav.copyUrl')} /></dd>
      <dt>${t('dav.user')}</dt><dd><code id="dav-user">${user}</code></dd>
    </dl>
    <form id="dav-create" class="toolbar" onSubmit=${create}>
      <label for="dav-label">${t('dav.label')}</label>
      <input id="dav-label" value=${label} maxlength="64" required placeholder=${t('dav.labelHint')}
        onInput=${(e) => setLabel(e.currentTarget.value)} />
      <button id="dav-create-btn" type="submit">${t('dav.create')}</button>
    </form>
    <div role="status" aria-live="polite">${made ? html`<p id="dav-new" class="msg ok">
      ${t('dav.made', { label: made.label })} <code id="dav-new-pass">${made.password}</code>
      <${Copy} id="dav-new-copy" text=${made.password} label=${t('dav.copyPass')} /></p>` : null}</div>
    <${Msg} id="dav-msg" msg=${msg} />
    <h3>${t('dav.list')}</h3>
    <${ListState} list=${list} emptyId="dav-empty" emptyText=${t('dav.empty')} reload=${loadAppPasswords} />
    ${rows.length ? html`<table id="dav-table" class="files">
      <caption class="vh">${t('dav.list')}</caption>
      <thead><tr><th scope="col">${t('dav.label')}</th><th scope="col">${t('dav.created')}</th>
        <th scope="col">${t('dav.lastUsed')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th></tr></thead>
      <tbody>${rows.map((p) => html`<tr key=${p.id} class="dav-row" data-label=${p.label}>
        <td class="name" data-label=${t('dav.label')}>${p.label}</td>
        <td class="time" data-label=${t('dav.created')}>${fmtDate(p.created)}</td>
        <td class="time" data-label=${t('dav.lastUsed')}>${p.last_used ? fmtDate(p.last_used) : t('dav.never')}</td>
        <td class="acts-cell"><button type="button" class="light act-revoke" aria-label=${t('dav.revokeOf', { label: p.label })}
          onClick=${() => revoke(p)}>${t('dav.revoke')}</button></td>
      </tr>`)}</tbody>
    </table>` : null}
  </div>`;
}
