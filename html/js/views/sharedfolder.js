// The landing page of a folder link, once opened: the shared folder's
// entries, folders first, with breadcrumbs that never go above the shared
// folder (shown below it), opening subfolders, paging, and a download link per file. The
// folder shown lives in the component, not in the address: the address is
// the link itself.
import { html, useEffect, useRef, useState } from '../lib.js';
import { fmtDate, fmtSize, t } from '../i18n.js';
import { humanError, why } from '../api.js';
import { PAGE } from '../data.js';
import { browseLink, linkFileURL } from '../links.js';

// SharedFolder lists the folders of folder link token with grant.
// onLost(code) tells the page that the grant is no longer good ('072') or
// the link is gone ('067'); with autoFocus the first page takes the focus
// (the code form it replaces had it).
export function SharedFolder({ token, grant, onLost, autoFocus }) {
  const [at, setAt] = useState({ folder: 0, start: 0 });
  const [list, setList] = useState({ loading: true });
  const headRef = useRef(null);
  const focusHead = useRef(!!autoFocus);
  const load = async () => {
    setList((l) => ({ ...l, loading: true, error: '' }));
    try {
      const res = await browseLink(token, grant, at.folder, at.start, PAGE);
      if (res.code === '073') {
        setList({ data: res });
      } else if (res.code === '072' || res.code === '067') {
        onLost(res.code);
      } else if (res.code === '075') {
        setList({ error: t('land.noFolder'), out: true });
      } else {
        setList({ error: why(res) });
      }
    } catch (e) {
      setList({ error: humanError(e) });
    }
  };
  useEffect(() => { load(); }, [at.folder, at.start, grant]);
  // After a move to another folder or page, the focus goes to the
  // folder's heading, so that a screen reader says where it is.
  useEffect(() => {
    if (focusHead.current && list.data && headRef.current) {
      focusHead.current = false;
      headRef.current.focus();
    }
  }, [list.data]);
  const goTo = (folder, start) => (e) => {
    if (e) e.preventDefault();
    focusHead.current = true;
    setAt({ folder, start });
  };
  const here = '#/s/' + token;
  const d = list.data;
  if (!d) {
    if (list.error) {
      return html`<div class="state err" role="alert"><p id="shared-error">${list.error}</p>
        ${list.out ? html`<a id="shared-top" href=${here} onClick=${goTo(0, 0)}>${t('land.top')}</a>`
          : html`<button type="button" class="light retry-load" onClick=${load}>${t('refresh')}</button>`}</div>`;
    }
    return html`<p class="state loading" role="status">${t('loading')}</p>`;
  }
  const path = d.path || [];
  const cur = path[path.length - 1] || { name: '' };
  const items = d.items || [];
  const page = Math.floor(at.start / PAGE) + 1;
  return html`<div id="shared-folder" aria-busy=${list.loading ? 'true' : 'false'}>
    ${path.length > 1 ? html`<nav aria-label=${t('crumbs.label')}>
      <ol id="shared-crumbs" class="crumbs">
        ${path.map((c, i) => html`<li>${i < path.length - 1
          ? html`<a class="crumb" href=${here} data-id=${c.id} onClick=${goTo(Number(c.id), 0)}>${c.name}</a>`
          : html`<span class="crumb" aria-current="location">${c.name}</span>`}</li>`)}
      </ol>
    </nav>` : null}
    <h2 id="shared-h" ref=${headRef} tabindex="-1" class="fname">${cur.name}</h2>
    ${list.error ? html`<p class="msg err" role="alert">${list.error}</p>` : null}
    ${items.length ? html`<table id="shared-table" class="files">
      <caption class="vh">${t('land.contents', { name: cur.name })}</caption>
      <thead><tr>
        <th scope="col">${t('col.name')}</th><th scope="col" class="num">${t('col.size')}</th>
        <th scope="col">${t('col.uploaded')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${items.map((e) => {
        const folder = e.kind === 'folder';
        return html`<tr class=${folder ? 'shared-row folder-row' : 'shared-row file-row'} key=${e.kind + e.id}
          data-kind=${e.kind} data-id=${e.id} data-name=${e.name}>
          <td class="name" data-label=${t('col.name')}>${folder
            ? html`<a class="open-folder" href=${here} onClick=${goTo(Number(e.id), 0)}>${e.name}</a>`
            : html`<span class="fname">${e.name}</span>`}</td>
          <td class="num size" data-label=${t('col.size')}>${folder ? t('kind.folder') : fmtSize(e.size)}</td>
          <td class="time" data-label=${t('col.uploaded')}>${fmtDate(e.time)}</td>
          <td class="acts-cell">${folder ? null : html`<a class="button act-download" href=${linkFileURL(token, grant, e.id)}
            download=${e.name} aria-label=${t('land.downloadOf', { name: e.name })}>${t('land.download')}</a>`}</td>
        </tr>`;
      })}</tbody>
    </table>` : html`<p id="shared-empty" class="state empty">${t('land.emptyFolder')}</p>`}
    ${at.start > 0 || d.more ? html`<nav class="pager" aria-label=${t('pager.label')}>
      <button id="shared-prev" type="button" class="light" disabled=${at.start <= 0}
        onClick=${goTo(at.folder, Math.max(0, at.start - PAGE))}>‹ <span>${t('pager.prev')}</span></button>
      <span id="shared-page" aria-live="polite">${t('pager.page', { page })}</span>
      <button id="shared-next" type="button" class="light" disabled=${!d.more}
        onClick=${goTo(at.folder, at.start + PAGE)}><span>${t('pager.next')}</span> ›</button>
    </nav>` : null}
  </div>`;
}
