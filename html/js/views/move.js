// The move dialog: a folder picker that walks the tree from the root
// (breadcrumbs up, a button per folder down); "Move here" moves the
// entries into the folder shown. The server refuses a folder into itself
// and says why; the dialog shows it and stays open.
import { html, useEffect, useRef, useState } from '../lib.js';
import { t } from '../i18n.js';
import { call, humanError, why } from '../api.js';
import { state } from '../store.js';
import { move } from '../folders.js';
import { Icon } from './files.js';

const MAXFOLDERS = 1000; // the API's page limit

async function folders(id) {
  const body = { user: state.session ? state.session.user : '', folder_id: id, sort: 'name', start: 0 };
  let res = await call('/files?cmd=list', { ...body, count: 100 });
  if (res.code === '030' && Number(res.folder_count) > 100) {
    res = await call('/files?cmd=list', { ...body, count: Math.min(Number(res.folder_count), MAXFOLDERS) });
  }
  if (res.code !== '030') throw Object.assign(new Error(), { text: why(res) });
  return {
    id,
    path: (res.path || []).map((c) => ({ id: Number(c.id), name: c.name })),
    folders: (res.items || []).filter((e) => e.kind === 'folder'),
  };
}

export function MoveDialog({ items, start, onClose }) {
  const dlg = useRef(null);
  const [at, setAt] = useState(null); // { id, path, folders }
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  const open = async (id, focusFirst) => {
    setMsg({ text: t('loading') });
    try {
      const f = await folders(id);
      setAt(f);
      setMsg(null);
      if (focusFirst) setTimeout(() => {
        const b = dlg.current && dlg.current.querySelector('.pick-folder, #move-here');
        if (b) b.focus();
      }, 0);
    } catch (e) {
      setMsg({ text: e.text || humanError(e), kind: 'err' });
    }
  };
  useEffect(() => {
    const d = dlg.current;
    if (d && !d.open) d.showModal();
    open(start || 0, false);
  }, []);
  const here = at ? at.id : 0;
  const onHere = async () => {
    if (busy || !at) return;
    setBusy(true);
    setMsg({ text: t('move.busy') });
    const err = await move(items, here, true);
    setBusy(false);
    if (err) { setMsg({ text: err, kind: 'err' }); return; }
    dlg.current.close();
    onClose(true);
  };
  // Escape (the dialog's cancel event) and Cancel close it unchanged.
  const cancel = (ev) => { if (ev) ev.preventDefault(); if (dlg.current.open) dlg.current.close(); onClose(false); };
  const title = items.length === 1 ? t('move.one', { name: items[0].name }) : t('move.many', { n: items.length });
  const path = at ? at.path : [{ id: 0, name: '' }];
  return html`<dialog id="move-dialog" ref=${dlg} aria-labelledby="move-h" onCancel=${cancel}>
    <h2 id="move-h">${title}</h2>
    <nav aria-label=${t('move.path')}><ol class="crumbs">
      ${path.map((c, i) => html`<li key=${c.id}>${i === path.length - 1
        ? html`<span class="crumb" aria-current="location">${c.id ? c.name : t('nav.files')}</span>`
        : html`<button type="button" class="crumb light pick-up" data-id=${c.id} onClick=${() => open(c.id, true)}>${c.id ? c.name : t('nav.files')}</button>`}</li>`)}
    </ol></nav>
    <ul id="move-folders" class="pick-list" aria-label=${t('move.folders')}>
      ${at && !at.folders.length ? html`<li class="hint">${t('move.noFolders')}</li>` : null}
      ${at ? at.folders.map((f) => html`<li key=${f.id}><button type="button" class="pick-folder light" data-id=${f.id}
        data-name=${f.name} onClick=${() => open(Number(f.id), true)}><${Icon} kind="folder" />${f.name}</button></li>`) : null}
    </ul>
    <p id="move-msg" class=${'msg' + (msg && msg.kind ? ' ' + msg.kind : '')} role="status" aria-live="polite">${msg ? msg.text : ''}</p>
    <div class="dlg-acts">
      <button id="move-here" type="button" aria-disabled=${busy || !at ? 'true' : null} onClick=${onHere}>${t('move.here')}</button>
      <button id="move-cancel" type="button" class="light" onClick=${() => cancel()}>${t('act.cancel')}</button>
    </div>
  </dialog>`;
}
