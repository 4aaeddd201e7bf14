// Share links: the dialog that makes one for a file or a folder, the "My
// links" tab, and the landing page #/s/<token> that anyone with the link
// opens, signed in or not (a folder's listing: sharedfolder.js).
import { html, useEffect, useRef, useState } from '../lib.js';
import { fmtNum, fmtSize, t } from '../i18n.js';
import { humanError, why } from '../api.js';
import { fname, notice } from '../data.js';
import { go } from '../route.js';
import { state } from '../store.js';
import { closeLinkDialog, createLink, linkInfo, linkURL, loadLinks, openLink, revokeLink } from '../links.js';
import { ListState, Msg, nextKeyOf, Pager, RowActions, useRowAction } from './common.js';
import { SharedFolder } from './sharedfolder.js';

const EXPIRIES = [1, 7, 30, 0]; // days; 0: never

// fmtUnix is unix seconds as a date and time of the locale.
function fmtUnix(sec) {
  return new Intl.DateTimeFormat(state.lang, { dateStyle: 'medium', timeStyle: 'short' }).format(new Date(sec * 1000));
}

function fmtExpiry(sec) { return Number(sec) ? fmtUnix(Number(sec)) : t('link.never'); }

// copyText puts text on the clipboard; without the clipboard API (or its
// permission) it selects the field and asks the browser to copy.
async function copyText(text, fieldId) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    const field = fieldId && document.getElementById(fieldId);
    const el = field || document.body.appendChild(Object.assign(document.createElement('textarea'), { value: text, readOnly: true }));
    const back = document.activeElement;
    el.focus();
    el.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    if (!field) {
      el.remove();
      if (back) back.focus();
    }
    return ok;
  }
}

// CopyField is a read-only field with its label and a copy button.
function CopyField({ id, label, value, onMsg }) {
  const copy = async () => {
    const ok = await copyText(value, id);
    onMsg({ text: t(ok ? 'link.copied' : 'link.copyFailed'), kind: ok ? 'ok' : 'err' });
  };
  return html`<div class="copy-field">
    <label for=${id}>${label}</label>
    <div class="copy-row">
      <input id=${id} readonly value=${value} onFocus=${(e) => e.currentTarget.select()} />
      <button id=${id + '-copy'} type="button" class="light" onClick=${copy}
        aria-label=${t('link.copyOf', { what: label })}>${t('link.copy')}</button>
    </div>
  </div>`;
}

// LinkDialog makes a link to the file or folder in s.linkDialog: the code (none,
// drawn by the server, or one's own), the expiry; then shows the address
// and the code to copy. A modal <dialog>: Escape closes it and the focus
// goes back to the row's button.
export function LinkDialog({ s }) {
  const d = s.linkDialog;
  const ref = useRef(null);
  const [mode, setMode] = useState('auto');
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState(null);
  const [made, setMade] = useState(null);
  useEffect(() => {
    const dlg = ref.current;
    if (!dlg) return;
    if (d && !dlg.open) {
      setMode('auto');
      setMade(null);
      setMsg(null);
      dlg.showModal();
    } else if (!d && dlg.open) {
      dlg.close();
    }
  }, [d]);
  const f = d ? d.file : null;
  const name = f ? fname(f) || f.name || '' : '';
  const kind = f && f.kind === 'folder' ? 'folder' : 'file';
  const submit = async (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const custom = form.elements.custom.value.trim().toLowerCase();
    if (mode === 'custom' && !/^[a-z0-9]{4}$/.test(custom)) {
      setMsg({ text: t('link.badCode'), kind: 'err' });
      form.elements.custom.focus();
      return;
    }
    setBusy(true);
    setMsg({ text: t('link.creating') });
    try {
      const res = await createLink(kind, f.id, mode === 'none' ? '' : mode === 'auto' ? 'auto' : custom, Number(form.elements.expiry.value));
      if (res.code !== '060') {
        setMsg({ text: t('link.createFailed', { why: why(res) }), kind: 'err' });
        return;
      }
      setMade({ url: linkURL(res.token), code: res.extract_code || '', expire: res.expire_time });
      setMsg({ text: t('link.created', { name }), kind: 'ok' });
      setTimeout(() => { const el = document.getElementById('link-url'); if (el) el.focus(); }, 0);
    } catch (ex) {
      if (ex.kind !== 'expired') setMsg({ text: humanError(ex), kind: 'err' });
    } finally {
      setBusy(false);
    }
  };
  return html`<dialog id="link-dialog" ref=${ref} aria-labelledby="link-dialog-h" onClose=${closeLinkDialog}>
    <h2 id="link-dialog-h">${t('link.title')}</h2>
    <p class="link-file">${kind === 'folder' ? html`<span class="vh">${t('kind.folder')}: </span>` : null}${name}</p>
    ${!made ? html`<form id="link-form" onSubmit=${submit}>
      <fieldset>
        <legend>${t('link.codeLegend')}</legend>
        ${['auto', 'custom', 'none'].map((m) => html`<label class="radio">
          <input type="radio" name="mode" value=${m} checked=${mode === m} onChange=${() => setMode(m)} />
          ${t('link.code.' + m)}</label>`)}
        <label for="link-custom">${t('link.customLabel')}</label>
        <input id="link-custom" name="custom" maxlength="4" autocomplete="off" autocapitalize="none" spellcheck="false"
          disabled=${mode !== 'custom'} aria-describedby="link-custom-hint" />
        <span id="link-custom-hint" class="hint">${t('link.customHint')}</span>
      </fieldset>
      <label for="link-expiry">${t('link.expiry')}</label>
      <select id="link-expiry" name="expiry">
        ${EXPIRIES.map((n) => html`<option value=${n} selected=${n === 7}>${n ? t('link.days', { n }) : t('link.never')}</option>`)}
      </select>
      <div class="dialog-acts">
        <button id="link-create" type="submit" disabled=${busy}>${t('link.create')}</button>
        <button id="link-cancel" type="button" class="light" onClick=${closeLinkDialog}>${t('link.cancel')}</button>
      </div>
    </form>` : html`<div id="link-made">
      <${CopyField} id="link-url" label=${t('link.url')} value=${made.url} onMsg=${setMsg} />
      ${made.code ? html`<${CopyField} id="link-code" label=${t('link.codeOut')} value=${made.code} onMsg=${setMsg} />` : null}
      <p class="hint">${t('link.expires', { when: fmtExpiry(made.expire) })}</p>
      <div class="dialog-acts">
        <button id="link-close" type="button" onClick=${closeLinkDialog}>${t('link.close')}</button>
      </div>
    </div>`}
    <${Msg} id="link-msg" msg=${msg} />
  </dialog>`;
}

function linkKey(l) { return 'link-' + l.id; }

function LinkRow({ l, links }) {
  const key = linkKey(l);
  const [busy, run] = useRowAction('tab-links', key, () => nextKeyOf(links, linkKey, key));
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(timer);
  }, [armed]);
  const folder = l.kind === 'folder';
  const name = l.file_name || t(folder ? 'link.folderGone' : 'link.fileGone');
  const active = l.state === 'active';
  const ad = busy ? 'true' : null;
  const copy = () => run(async () => {
    const ok = await copyText(linkURL(l.token), '');
    notice(t(ok ? 'link.copied' : 'link.copyFailed'), ok ? 'ok' : 'err');
  });
  const revoke = () => {
    if (busy) return;
    if (!armed) {
      setArmed(true);
      notice(t('link.confirmRevoke', { name }), '');
      return;
    }
    setArmed(false);
    run(async () => {
      try {
        const res = await revokeLink(l.id);
        const ok = res.code === '064';
        notice(t(ok ? 'link.revoked' : 'link.revokeFailed', { name }), ok ? 'ok' : 'err');
        await loadLinks();
      } catch (e) {
        if (e.kind !== 'expired') notice(humanError(e), 'err');
      }
    });
  };
  return html`<tr class="link-row" data-key=${key} data-id=${l.id} data-token=${l.token} data-name=${l.file_name}
    data-state=${l.state} data-kind=${l.kind} aria-busy=${ad}>
    <td class="name" data-label=${t('col.name')}><span class="fname">${name}</span>
      ${folder ? html` <span class="badge">${t('kind.folder')}</span>` : null}</td>
    <td class="code" data-label=${t('link.colCode')}>${t(l.need_code ? 'link.withCode' : 'link.noCode')}</td>
    <td class="time" data-label=${t('link.colExpires')}>${fmtExpiry(l.expire_time)}</td>
    <td class="num pv" data-label=${t('col.downloads')}>${fmtNum(l.downloads || 0)}</td>
    <td class="state-cell" data-label=${t('link.colState')}>
      <span class=${'badge' + (active ? ' on' : '')}>${t(folder && l.state === 'gone' ? 'link.state.folderGone' : 'link.state.' + l.state)}</span></td>
    <td class="acts-cell">
      <${RowActions} name=${name}>
        <button type="button" class="act-copy" aria-disabled=${ad} disabled=${!active} onClick=${copy}>${t('link.copyLink')}</button>
        <button type="button" class="act-revoke danger" aria-disabled=${ad} disabled=${l.state === 'revoked'}
          data-armed=${armed ? '1' : null} data-keep-open=${armed ? null : '1'} onClick=${revoke}>${t(armed ? 'link.confirm' : 'link.revoke')}</button>
      <//>
    </td>
  </tr>`;
}

// LinksView is the "My links" tab.
export function LinksView({ s }) {
  const r = s.route;
  const list = s.lists.links || {};
  const data = list.data;
  useEffect(() => { loadLinks(); }, [r.page]);
  const links = data ? data.files : [];
  return html`<div id="tab-links" class="card tabpane">
    <h2 id="links-h" class="vh" tabindex="-1">${t('nav.links')}</h2>
    <div class="toolbar">
      <button id="links-refresh" type="button" class="light" onClick=${loadLinks}>${t('refresh')}</button>
      <span id="links-count" class="count">${data ? t('link.count', { n: data.total }) : ''}</span>
    </div>
    <${Msg} id="links-msg" msg=${s.notice} />
    <${ListState} list=${list} emptyId="links-empty" emptyText=${t('link.empty')} reload=${loadLinks} />
    ${links.length ? html`<table id="links-table" class="files" aria-busy=${list.loading ? 'true' : 'false'}>
      <caption class="vh">${t('nav.links')}</caption>
      <thead><tr>
        <th scope="col">${t('col.name')}</th><th scope="col">${t('link.colCode')}</th>
        <th scope="col">${t('link.colExpires')}</th><th scope="col" class="num">${t('col.downloads')}</th>
        <th scope="col">${t('link.colState')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${links.map((l) => html`<${LinkRow} key=${linkKey(l)} l=${l} links=${links} />`)}</tbody>
    </table>` : null}
    <${Pager} prefix="links" data=${data} onPage=${(p) => go({ ...r, page: p })} />
  </div>`;
}

// LandingView is #/s/<token>: what a link shares and the code when it
// needs one; then a file's download, or a folder's listing (a folder
// without a code opens at once). Works signed in or not.
export function LandingView({ token }) {
  const [info, setInfo] = useState({ loading: true });
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const [dl, setDl] = useState('');
  const [grant, setGrant] = useState('');
  const codeRef = useRef(null);
  const byForm = useRef(false);
  // open asks for a grant for link f with code: a file's download
  // starts, a folder's listing shows.
  const open = async (f, code) => {
    setBusy(true);
    setMsg({ text: t('land.opening') });
    try {
      const res = await openLink(token, code);
      if (res.code === '068') {
        if (f.kind === 'folder') {
          setGrant(res.grant);
          setMsg(null);
          return;
        }
        setDl(res.download_url);
        setMsg({ text: t('land.started', { name: f.file_name }), kind: 'ok' });
        setTimeout(() => { const a = document.getElementById('landing-dl'); if (a) a.click(); }, 0);
      } else if (res.code === '069') {
        setMsg({ text: t('land.wrongCode'), kind: 'err' });
        if (codeRef.current) { codeRef.current.focus(); codeRef.current.select(); }
      } else if (res.code === '070') {
        setMsg({ text: t('land.locked', { s: res.retry_after || 1 }), kind: 'err' });
      } else if (res.code === '067') {
        setInfo({ gone: true });
      } else {
        setMsg({ text: t(f.kind === 'folder' ? 'land.openFailed' : 'land.failed', { why: why(res) }), kind: 'err' });
      }
    } catch (ex) {
      setMsg({ text: humanError(ex), kind: 'err' });
    } finally {
      setBusy(false);
    }
  };
  const fetchInfo = async () => {
    setInfo({ loading: true });
    setDl('');
    setGrant('');
    setMsg(null);
    try {
      const res = await linkInfo(token);
      if (res.code === '066') {
        setInfo({ data: res });
        if (res.kind === 'folder' && !res.need_code) open(res, '');
      } else if (res.code === '067') setInfo({ gone: true });
      else setInfo({ error: why(res) });
    } catch (e) {
      setInfo({ error: humanError(e) });
    }
  };
  useEffect(() => { fetchInfo(); }, [token]);
  useEffect(() => { if (codeRef.current) codeRef.current.focus(); }, [info.data, grant]);
  const f = info.data;
  const folder = !!f && f.kind === 'folder';
  const submit = (e) => {
    e.preventDefault();
    byForm.current = true;
    open(f, f.need_code ? e.currentTarget.elements.code.value.trim() : '');
  };
  // The grant ran out (a folder stays open for a while): a link without a
  // code opens again at once, one with a code asks for it again.
  const lost = (code) => {
    setGrant('');
    if (code === '067') setInfo({ gone: true });
    else if (!f.need_code) open(f, '');
    else setMsg({ text: t('land.reopen'), kind: 'err' });
  };
  let body;
  if (info.loading) body = html`<p class="state loading" role="status">${t('loading')}</p>`;
  else if (info.gone) body = html`<p id="landing-gone" class="state err" role="alert">${t('land.gone')}</p>`;
  else if (info.error) {
    body = html`<div class="state err" role="alert"><p>${info.error}</p>
      <button type="button" class="light retry-load" onClick=${fetchInfo}>${t('refresh')}</button></div>`;
  } else {
    const showForm = !folder || (!grant && (f.need_code || !busy));
    body = html`<dl id="landing-file" class="facts">
        <dt>${t(folder ? 'kind.folder' : 'col.name')}</dt><dd id="landing-name" class="fname">${f.file_name}</dd>
        ${folder ? null : html`<dt>${t('col.size')}</dt><dd>${fmtSize(f.size)}</dd>`}
        <dt>${t('land.owner')}</dt><dd id="landing-owner">${f.owner}</dd>
        <dt>${t('link.colExpires')}</dt><dd>${fmtExpiry(f.expire_time)}</dd>
      </dl>
      ${showForm ? html`<form id="landing-form" onSubmit=${submit}>
        ${f.need_code ? html`<label for="landing-code">${t('land.code')}</label>
          <input id="landing-code" name="code" ref=${codeRef} required minlength="4" maxlength="4" autocomplete="off"
            autocapitalize="none" spellcheck="false" aria-describedby="landing-code-hint" />
          <span id="landing-code-hint" class="hint">${t('land.codeHint')}</span>` : null}
        <button id="landing-btn" type="submit" disabled=${busy}>${t(folder ? 'land.open' : 'land.download')}</button>
      </form>` : null}
      ${dl ? html`<p class="hint">${t('land.notStarted')} <a id="landing-dl" href=${dl} download=${f.file_name}>${f.file_name}</a></p>` : null}
      ${folder && grant ? html`<${SharedFolder} token=${token} grant=${grant} onLost=${lost} autoFocus=${byForm.current} />` : null}`;
  }
  return html`<section id="view-landing" class=${'card narrow' + (folder ? ' wide' : '')} aria-labelledby="landing-h">
    <h1 id="landing-h">${t(folder ? 'land.folderTitle' : 'land.title')}</h1>
    ${body}
    <${Msg} id="landing-msg" msg=${msg} />
    <p><a id="landing-home" href="#/files">${t(state.session ? 'land.home' : 'land.login')}</a></p>
  </section>`;
}
