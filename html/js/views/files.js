// My files: the upload picker and queue, the sortable, paged list.
import { html, useEffect, useState } from '../lib.js';
import { fmtDate, fmtNum, fmtSize, t } from '../i18n.js';
import { go, SORTS } from '../route.js';
import { deleteFile, download, fkey, fname, ftime, loadMyFiles, notice, shareFile } from '../data.js';
import { openLinkDialog } from '../links.js';
import { openPreview, previewKind } from '../preview.js';
import { ListState, Msg, nextKeyOf, Pager, RowActions, useRowAction } from './common.js';
import { Picker, Queue } from './upload.js';

function FileRow({ f, files }) {
  const name = fname(f);
  const key = fkey(f);
  const shared = Number(f.share_status || f.shared_status || 0) === 1;
  const [busy, run] = useRowAction('tab-myfiles', key, () => nextKeyOf(files, fkey, key));
  const ad = busy ? 'true' : null;
  // Two presses instead of a modal confirm(): the first arms the button
  // for 5 s (the row keeps it armed through a list refresh).
  const [armed, setArmed] = useState(false);
  useEffect(() => {
    if (!armed) return undefined;
    const timer = setTimeout(() => setArmed(false), 5000);
    return () => clearTimeout(timer);
  }, [armed]);
  const onDelete = () => {
    if (busy) return;
    if (!armed) {
      setArmed(true);
      notice(t('msg.confirmDelete', { name }), '');
      return;
    }
    setArmed(false);
    run(() => deleteFile(f));
  };
  return html`<tr class="file-row" data-name=${name} data-md5=${f.md5} data-key=${key} aria-busy=${ad}>
    <td class="name" data-label=${t('col.name')}><span class="fname">${name}</span></td>
    <td class="num size" data-label=${t('col.size')}>${fmtSize(f.size)}</td>
    <td class="time" data-label=${t('col.uploaded')}>${fmtDate(ftime(f))}</td>
    <td class="num pv" data-label=${t('col.downloads')}>${fmtNum(f.pv || 0)}</td>
    <td class="shared" data-label=${t('col.shared')}>
      <span class=${'badge' + (shared ? ' on' : '')} data-shared=${shared ? '1' : '0'}>${t(shared ? 'badge.shared' : 'badge.private')}</span></td>
    <td class="acts-cell">
      <${RowActions} name=${name}>
        ${previewKind(f) ? html`<button type="button" class="act-preview light" aria-haspopup="dialog" onClick=${(e) => openPreview(f, e.currentTarget)}>${t('act.preview')}</button>` : null}
        <button type="button" class="act-download" aria-disabled=${ad} onClick=${() => run(() => download(f, 'mine'))}>${t('act.download')}</button>
        <button type="button" class="act-share light" aria-disabled=${ad} disabled=${shared} onClick=${() => run(() => shareFile(f))}>${t('act.share')}</button>
        <button type="button" class="act-link light" aria-disabled=${ad} aria-haspopup="dialog" disabled=${!f.id}
          onClick=${() => { if (!busy) openLinkDialog(f); }}>${t('act.link')}</button>
        <button type="button" class="act-del danger" aria-disabled=${ad} data-armed=${armed ? '1' : null} data-keep-open=${armed ? null : '1'} onClick=${onDelete}>${t(armed ? 'act.confirmDelete' : 'act.delete')}</button>
      <//>
    </td>
  </tr>`;
}

export function FilesView({ s }) {
  const r = s.route;
  const list = s.lists.files || {};
  const data = list.data;
  useEffect(() => { loadMyFiles(); }, [r.page, r.sort]);
  const files = data ? data.files : [];
  return html`<div id="tab-myfiles" class="card tabpane">
    <h2 id="files-h" class="vh" tabindex="-1">${t('nav.files')}</h2>
    <div class="toolbar">
      <${Picker} />
    </div>
    <p id="upload-status" class="msg" role="status" aria-live="polite">${s.uploadMsg}</p>
    <${Queue} s=${s} />
    <div class="toolbar">
      <label for="sort">${t('sort.label')}</label>
      <select id="sort" value=${r.sort} onChange=${(e) => go({ ...r, sort: e.currentTarget.value, page: 1 })}>
        ${SORTS.map((v) => html`<option value=${v}>${t('sort.' + v)}</option>`)}
      </select>
      <button id="refresh-btn" type="button" class="light" onClick=${loadMyFiles}>${t('refresh')}</button>
      <span id="myfiles-count" class="count">${data ? t('files.count', { n: data.total }) : ''}</span>
    </div>
    <${Msg} id="myfiles-msg" msg=${s.notice} />
    <${ListState} list=${list} emptyId="myfiles-empty" emptyText=${t('empty.files')} reload=${loadMyFiles} />
    ${files.length ? html`<table id="myfiles-table" class="files" aria-busy=${list.loading ? 'true' : 'false'}>
      <caption class="vh">${t('nav.files')}</caption>
      <thead><tr>
        <th scope="col">${t('col.name')}</th><th scope="col" class="num">${t('col.size')}</th>
        <th scope="col">${t('col.uploaded')}</th><th scope="col" class="num">${t('col.downloads')}</th>
        <th scope="col">${t('col.shared')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${files.map((f) => html`<${FileRow} key=${fkey(f)} f=${f} files=${files} />`)}</tbody>
    </table>` : null}
    <${Pager} prefix="page" data=${data} onPage=${(p) => go({ ...r, page: p })} />
  </div>`;
}
