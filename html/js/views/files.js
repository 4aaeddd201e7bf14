// My files: the quota, the upload picker and queue, and a folder: its
// path (breadcrumbs), folders first then files, sorted and paged, with a
// selection, row actions, inline new folder and rename, a move dialog and
// moves by drag and drop. A search shows matches from every folder.
import { html, useEffect, useLayoutEffect, useRef, useState } from '../lib.js';
import { fmtDate, fmtNum, fmtSize, t } from '../i18n.js';
import { folderHash, go, SORTS } from '../route.js';
import { deleteFile, download, fname, ftime, loadMyFiles, notice, shareFile } from '../data.js';
import { ekey, mkdir, move, rename, trash } from '../folders.js';
import { openLinkDialog } from '../links.js';
import { openPreview, previewKind } from '../preview.js';
import { keepFocus, ListState, Msg, nextKeyOf, RowActions, useRowAction } from './common.js';
import { MoveDialog } from './move.js';
import { Picker, Queue } from './upload.js';

// Icon: a folder or a file, drawn inline (no emoji font needed).
export function Icon({ kind }) {
  return kind === 'folder'
    ? html`<svg class="icon folder" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
        <path d="M2 6a2 2 0 0 1 2-2h5l2 2h9a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H4a2 2 0 0 1-2-2z" /></svg>`
    : html`<svg class="icon file" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
        <path d="M6 2.5h8l5 5v14H6z M14 2.5v5h5" /></svg>`;
}

const ename = (e) => (e.name !== undefined ? e.name : fname(e));

// useArmed is the two-press confirm: the first press arms for 5 s.
export function useArmed() {
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(timer);
  }, [armed]);
  return [armed, setArmed];
}

// The entries being dragged within the page (null: none, or files from
// the desktop, which the page's drop zone uploads).
let dragged = null;

// useDropTarget makes an element take dragged entries: they move into
// folder dest (never a folder into itself: the server refuses that too).
function useDropTarget(dest) {
  const [over, setOver] = useState(false);
  const fits = () => dragged && !dragged.some((e) => e.kind === 'folder' && Number(e.id) === dest);
  return [over, {
    onDragOver: (ev) => {
      if (!fits()) return;
      ev.preventDefault();
      ev.dataTransfer.dropEffect = 'move';
      setOver(true);
    },
    onDragLeave: () => setOver(false),
    onDrop: (ev) => {
      setOver(false);
      if (!fits()) return;
      ev.preventDefault();
      ev.stopPropagation();
      const items = dragged;
      dragged = null;
      move(items, dest).then(() => keepFocus('tab-myfiles', ''));
    },
  }];
}

function Crumb({ c, last, sort }) {
  const [over, drop] = useDropTarget(c.id);
  const label = c.id === 0 ? t('nav.files') : c.name;
  return html`<li class=${over ? 'drop-over' : ''}>
    ${last ? html`<span class="crumb" aria-current="location" data-id=${c.id} tabindex="-1">${label}</span>`
      : html`<a class="crumb" href=${folderHash(c.id, sort)} data-id=${c.id} ...${drop}>${label}</a>`}
  </li>`;
}

function Crumbs({ path, sort }) {
  return html`<nav id="crumbs" aria-label=${t('crumbs.label')}><ol class="crumbs">
    ${path.map((c, i) => html`<${Crumb} key=${c.id} c=${c} last=${i === path.length - 1} sort=${sort} />`)}
  </ol></nav>`;
}

// NameForm is the inline name input of a new folder or a rename: Enter
// saves, Escape cancels; a refusal keeps it open with the reason.
function NameForm({ id, label, initial, onSave, onCancel }) {
  const input = useRef(null);
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  useLayoutEffect(() => {
    const el = input.current;
    if (!el) return;
    el.focus();
    const dot = initial.lastIndexOf('.');
    el.setSelectionRange(0, dot > 0 ? dot : initial.length);
  }, []);
  const submit = async (ev) => {
    ev.preventDefault();
    const name = input.current.value.trim();
    if (busy) return;
    if (!name) { setErr(t('msg.nameEmpty')); return; }
    setBusy(true);
    const why = await onSave(name);
    setBusy(false);
    if (why) {
      setErr(why);
      if (input.current) input.current.focus();
    }
  };
  const onKey = (ev) => { if (ev.key === 'Escape') { ev.preventDefault(); ev.stopPropagation(); onCancel(); } };
  return html`<form class="name-form" onSubmit=${submit} onKeyDown=${onKey}>
    <label for=${id} class="vh">${label}</label>
    <input id=${id} class="name-input" ref=${input} defaultValue=${initial} maxlength="255" required
      aria-invalid=${err ? 'true' : null} aria-describedby=${err ? id + '-err' : null} />
    <button type="submit" class="name-save" aria-disabled=${busy ? 'true' : null}>${t('act.save2')}</button>
    <button type="button" class="name-cancel light" onClick=${onCancel}>${t('act.cancel')}</button>
    ${err ? html`<p id=${id + '-err'} class="msg err name-err" role="alert">${err}</p>` : null}
  </form>`;
}

function EntryRow({ e, files, sel, onSelect, onMove, sort, search }) {
  const folder = e.kind === 'folder';
  const name = ename(e);
  const key = ekey(e);
  const shared = Number(e.share_status || e.shared_status || 0) === 1;
  const [busy, run] = useRowAction('tab-myfiles', key, () => nextKeyOf(files, ekey, key));
  const ad = busy ? 'true' : null;
  const [armed, setArmed] = useArmed();
  const [editing, setEditing] = useState(false);
  const [over, drop] = useDropTarget(Number(e.id));
  const selected = !!sel[key];
  const onDelete = () => {
    if (busy) return;
    if (!armed) {
      setArmed(true);
      notice(t('msg.confirmDelete', { name }), '');
      return;
    }
    setArmed(false);
    run(() => deleteFile(e));
  };
  const onDragStart = (ev) => {
    dragged = selected ? Object.values(sel) : [e];
    ev.dataTransfer.effectAllowed = 'move';
    ev.dataTransfer.setData('text/plain', dragged.map(ename).join('\n'));
  };
  const endEdit = () => { setEditing(false); keepFocus('tab-myfiles', key); };
  const place = search ? e.place : undefined;
  return html`<tr class=${(folder ? 'folder-row' : 'file-row') + (selected ? ' selected' : '') + (over ? ' drop-over' : '')}
    data-name=${name} data-md5=${folder ? null : e.md5} data-key=${key} data-kind=${e.kind} data-id=${e.id}
    aria-busy=${ad} draggable=${editing ? 'false' : 'true'} onDragStart=${onDragStart} onDragEnd=${() => { dragged = null; }}
    ...${folder ? drop : {}}>
    <td class="sel"><input type="checkbox" class="row-sel" checked=${selected}
      aria-label=${t('sel.one', { name })} onChange=${(ev) => onSelect(e, ev.currentTarget.checked)} /></td>
    <td class="name" data-label=${t('col.name')}>
      ${editing ? html`<${NameForm} id=${'rename-' + e.kind + '-' + e.id} label=${t('rename.label', { name })} initial=${name}
          onSave=${async (n) => { const why = n === name ? null : await rename(e, n); if (!why) endEdit(); return why; }}
          onCancel=${endEdit} />`
        : folder ? html`<a class="open-folder" href=${folderHash(Number(e.id), sort)}><${Icon} kind="folder" />${name}</a>`
          : html`<span class="fname"><${Icon} kind="file" />${name}</span>`}
      ${place !== undefined ? html`<span class="place">${t('search.in')} ${place
        ? html`<a class="place-link" href=${folderHash(Number(e.folder_id) || 0, sort)}>${[t('nav.files'), ...place.map((c) => c.name)].join(' / ')}</a>`
        : t('place.gone')}</span>` : null}
    </td>
    <td class="num size" data-label=${t('col.size')}>${folder ? t('kind.folder') : fmtSize(e.size)}</td>
    <td class="time" data-label=${t('col.uploaded')}>${fmtDate(ftime(e))}</td>
    <td class="num pv" data-label=${t('col.downloads')}>${folder ? '' : fmtNum(e.pv || 0)}</td>
    <td class="shared" data-label=${t('col.shared')}>${folder ? '' : html`
      <span class=${'badge' + (shared ? ' on' : '')} data-shared=${shared ? '1' : '0'}>${t(shared ? 'badge.shared' : 'badge.private')}</span>`}</td>
    <td class="acts-cell">
      <${RowActions} name=${name}>
        ${folder ? null : html`
        ${previewKind(e) ? html`<button type="button" class="act-preview light" aria-haspopup="dialog" onClick=${(ev) => openPreview(e, ev.currentTarget)}>${t('act.preview')}</button>` : null}
        <button type="button" class="act-download" aria-disabled=${ad} onClick=${() => run(() => download(e, 'mine'))}>${t('act.download')}</button>
        <button type="button" class="act-share light" aria-disabled=${ad} disabled=${shared} onClick=${() => run(() => shareFile(e))}>${t('act.share')}</button>`}
        <button type="button" class="act-link light" aria-disabled=${ad} aria-haspopup="dialog" disabled=${!e.id}
          onClick=${() => { if (!busy) openLinkDialog(e); }}>${t('act.link')}</button>
        <button type="button" class="act-rename light" aria-disabled=${ad} onClick=${() => !busy && setEditing(true)}>${t('act.rename')}</button>
        <button type="button" class="act-move light" aria-disabled=${ad} onClick=${(ev) => !busy && onMove([e], ev.currentTarget)}>${t('act.move')}</button>
        <button type="button" class="act-del danger" aria-disabled=${ad} data-armed=${armed ? '1' : null} data-keep-open=${armed ? null : '1'} onClick=${onDelete}>${t(armed ? 'act.confirmDelete' : 'act.delete')}</button>
      <//>
    </td>
  </tr>`;
}

// SelectionBar acts on every selected entry of the page.
function SelectionBar({ sel, onMove, onClear }) {
  const items = Object.values(sel);
  const n = items.length;
  const [armed, setArmed] = useArmed();
  const [busy, setBusy] = useState(false);
  const files = items.filter((e) => e.kind === 'file' && Number(e.share_status || 0) !== 1);
  const runAll = async (fn) => {
    if (busy) return;
    setBusy(true);
    try { await fn(); } finally { setBusy(false); }
  };
  const onDelete = () => {
    if (!armed) { setArmed(true); notice(t('msg.confirmDeleteN', { n }), ''); return; }
    setArmed(false);
    runAll(async () => { await trash(items); onClear(); keepFocus('tab-myfiles', ''); });
  };
  const onShare = () => runAll(async () => {
    for (const f of files) await shareFile(f); // eslint-disable-line no-await-in-loop
    onClear();
  });
  return html`<div id="selbar" class="selbar" hidden=${!n}>
    <span id="sel-count">${t('sel.count', { n })}</span>
    <button id="sel-move" type="button" aria-disabled=${busy ? 'true' : null} onClick=${(ev) => onMove(items, ev.currentTarget)}>${t('act.move')}</button>
    ${files.length ? html`<button id="sel-share" type="button" class="light" aria-disabled=${busy ? 'true' : null} onClick=${onShare}>${t('act.share')}</button>` : null}
    <button id="sel-del" type="button" class="danger" aria-disabled=${busy ? 'true' : null} data-armed=${armed ? '1' : null}
      onClick=${onDelete}>${t(armed ? 'act.confirmDelete' : 'act.delete')}</button>
    <button id="sel-clear" type="button" class="light" onClick=${onClear}>${t('sel.clear')}</button>
  </div>`;
}

// QuotaBar: what the user's files take of their quota, the trash included.
export function QuotaBar({ list }) {
  const u = list && list.data;
  if (!u) return html`<div id="quota" class="quota"></div>`;
  const pct = u.quota ? Math.min(100, Math.round((100 * u.used) / u.quota)) : 0;
  const text = u.quota
    ? t('quota.of', { used: fmtSize(u.used), quota: fmtSize(u.quota), pct: fmtNum(pct) })
    : t('quota.unlimited', { used: fmtSize(u.used) });
  return html`<div id="quota" class=${'quota' + (pct >= 90 ? ' full' : '')} data-used=${u.used} data-quota=${u.quota} data-trash=${u.trash}>
    <span id="quota-text">${text}</span>
    ${u.quota ? html`<progress id="quota-bar" max=${u.quota} value=${Math.min(u.used, u.quota)} aria-labelledby="quota-text"></progress>` : null}
    <span id="quota-trash" class="hint">${u.trash ? t('quota.trash', { size: fmtSize(u.trash) }) : ''}</span>
  </div>`;
}

function SearchForm({ r }) {
  const submit = (ev) => {
    ev.preventDefault();
    const q = ev.currentTarget.elements.q.value.trim();
    go({ ...r, q, page: 1 });
  };
  return html`<form id="search-form" role="search" class="search" onSubmit=${submit}>
    <label for="search" class="vh">${t('search.label')}</label>
    <input id="search" name="q" type="search" defaultValue=${r.q} key=${r.q} maxlength="255" placeholder=${t('search.label')} />
    <button id="search-btn" type="submit" class="light">${t('search.go')}</button>
  </form>`;
}

// MorePager: the folder API tells whether a page follows, not how many.
function MorePager({ data, onPage }) {
  if (!data || (data.page <= 1 && !data.more)) return null;
  return html`<nav class="pager" aria-label=${t('pager.label')}>
    <button id="page-prev" type="button" class="light" disabled=${data.page <= 1}
      onClick=${() => onPage(data.page - 1)}>‹ <span>${t('pager.prev')}</span></button>
    <span id="page-info" aria-live="polite">${t('pager.page', { page: fmtNum(data.page) })}</span>
    <button id="page-next" type="button" class="light" disabled=${!data.more}
      onClick=${() => onPage(data.page + 1)}><span>${t('pager.next')}</span> ›</button>
  </nav>`;
}

export function FilesView({ s }) {
  const r = s.route;
  const list = s.lists.files || {};
  const data = list.data;
  const [sel, setSel] = useState({});
  const [creating, setCreating] = useState(false);
  const [moving, setMoving] = useState(null); // { items, opener }
  useEffect(() => { setSel({}); setCreating(false); loadMyFiles(); }, [r.page, r.sort, r.folder, r.q]);
  const files = data ? data.files : [];
  // A page emptied by moves or deletes: the one before it.
  useEffect(() => { if (data && !data.files.length && data.page > 1 && data.page === r.page) go({ ...r, page: r.page - 1 }); }, [data]);
  // The selection holds only entries still on the page.
  useEffect(() => {
    const keys = new Set(files.map(ekey));
    setSel((old) => {
      const kept = {};
      for (const k of Object.keys(old)) if (keys.has(k)) kept[k] = files.find((e) => ekey(e) === k);
      return Object.keys(kept).length === Object.keys(old).length ? old : kept;
    });
  }, [data]);
  const onSelect = (e, on) => setSel((old) => {
    const next = { ...old };
    if (on) next[ekey(e)] = e; else delete next[ekey(e)];
    return next;
  });
  const all = files.length > 0 && files.every((e) => sel[ekey(e)]);
  const some = files.some((e) => sel[ekey(e)]);
  const selectAll = (on) => setSel(on ? Object.fromEntries(files.map((e) => [ekey(e), e])) : {});
  const allBox = useRef(null);
  useEffect(() => { if (allBox.current) allBox.current.indeterminate = some && !all; });
  const n = Object.keys(sel).length;
  const search = !!r.q;
  const path = data && data.path && data.path.length ? data.path : [{ id: 0, name: '' }];
  const inFolder = r.folder > 0 && !search;
  const emptyText = search ? t('empty.search', { q: r.q }) : inFolder ? t('empty.folder') : t('empty.files');
  const onMoved = () => { setSel({}); };
  // A folder opened (its link went with the old rows): the focus goes to
  // where the page now is, the last breadcrumb.
  const shown = data && !data.search ? data.folder : null;
  const first = useRef(true);
  useEffect(() => {
    if (first.current) { first.current = false; return; }
    const a = document.activeElement;
    const c = document.querySelector('#crumbs [aria-current]');
    if (shown !== null && c && (!a || a === document.body)) c.focus();
  }, [shown]);
  return html`<div id="tab-myfiles" class="card tabpane">
    <h2 id="files-h" class="vh" tabindex="-1">${t('nav.files')}</h2>
    <${QuotaBar} list=${s.lists.usage} />
    <div class="toolbar">
      <${Picker} />
    </div>
    ${inFolder ? html`<p id="folder-upload-hint" class="hint">${t('up.rootOnly')}</p>` : null}
    <p id="upload-status" class="msg" role="status" aria-live="polite">${s.uploadMsg}</p>
    <${Queue} s=${s} />
    <div class="toolbar">
      <${SearchForm} r=${r} />
      <button id="mkdir-btn" type="button" class="light" disabled=${search} onClick=${() => setCreating(true)}>${t('act.mkdir')}</button>
      <span class="sortbox">
        <label for="sort">${t('sort.label')}</label>
        <select id="sort" value=${r.sort} disabled=${search} onChange=${(ev) => go({ ...r, sort: ev.currentTarget.value, page: 1 })}>
          ${SORTS.map((v) => html`<option value=${v}>${t('sort.' + v)}</option>`)}
        </select>
      </span>
      <button id="refresh-btn" type="button" class="light" onClick=${loadMyFiles}>${t('refresh')}</button>
    </div>
    ${search
      ? html`<div class="search-head"><h3 id="search-h">${t('search.results', { q: r.q })}</h3>
          <a id="search-clear" href=${folderHash(r.folder, r.sort)}>${t('search.clear')}</a></div>`
      : html`<${Crumbs} path=${path} sort=${r.sort} />`}
    <${Msg} id="myfiles-msg" msg=${s.notice} />
    <p id="sel-status" class="vh" aria-live="polite">${n ? t('sel.count', { n }) : ''}</p>
    <${SelectionBar} sel=${sel} onMove=${(items, opener) => setMoving({ items, opener })} onClear=${() => setSel({})} />
    ${creating ? html`<div class="mkdir-row"><${NameForm} id="mkdir-name" label=${t('mkdir.label')} initial=""
        onSave=${async (name) => { const why = await mkdir(name); if (!why) { setCreating(false); focusNamed(name); } return why; }}
        onCancel=${() => { setCreating(false); setTimeout(() => document.getElementById('mkdir-btn').focus(), 0); }} /></div>` : null}
    <${ListState} list=${list} emptyId="myfiles-empty" emptyText=${emptyText} reload=${loadMyFiles} />
    ${list.error && inFolder ? html`<p><a id="to-root" href=${folderHash(0, r.sort)}>${t('crumbs.toRoot')}</a></p>` : null}
    ${files.length ? html`<label class="selall"><input type="checkbox" id="sel-all" ref=${allBox} checked=${all}
        onChange=${(ev) => selectAll(ev.currentTarget.checked)} /> ${t('sel.all')}</label>
      <table id="myfiles-table" class="files" aria-busy=${list.loading ? 'true' : 'false'}>
      <caption class="vh">${search ? t('search.results', { q: r.q }) : t('nav.files')}</caption>
      <thead><tr>
        <th scope="col" class="sel"><span class="vh">${t('col.select')}</span></th>
        <th scope="col">${t('col.name')}</th><th scope="col" class="num">${t('col.size')}</th>
        <th scope="col">${t('col.uploaded')}</th><th scope="col" class="num">${t('col.downloads')}</th>
        <th scope="col">${t('col.shared')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${files.map((e) => html`<${EntryRow} key=${ekey(e)} e=${e} files=${files} sel=${sel} onSelect=${onSelect}
        onMove=${(items, opener) => setMoving({ items, opener })} sort=${r.sort} search=${search} />`)}</tbody>
    </table>` : null}
    <${MorePager} data=${data} onPage=${(p) => go({ ...r, page: p })} />
    ${moving ? html`<${MoveDialog} items=${moving.items} start=${search ? 0 : r.folder}
      onClose=${(moved) => {
        const opener = moving.opener;
        setMoving(null);
        if (moved) onMoved();
        setTimeout(() => {
          if (opener && opener.isConnected && opener.offsetParent !== null) opener.focus();
          else keepFocus('tab-myfiles', '');
        }, 0);
      }} />` : null}
  </div>`;
}

// focusNamed puts the focus on the entry named name once the list shows it.
function focusNamed(name) {
  setTimeout(() => {
    const row = document.querySelector(`#myfiles-table tr[data-name="${CSS.escape(name)}"]`);
    const a = row && row.querySelector('.open-folder, .fname');
    if (a && a.focus) { if (!a.href) a.tabIndex = -1; a.focus(); return; }
    const b = document.getElementById('mkdir-btn');
    if (b) b.focus();
  }, 0);
}
