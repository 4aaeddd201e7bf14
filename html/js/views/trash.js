// The trash: what was deleted, where it was, when it goes; restore (one
// or the selection), delete for good and empty the trash, both with the
// two-press confirm.
import { html, useEffect, useRef, useState } from '../lib.js';
import { fmtDate, fmtNum, fmtSize, t } from '../i18n.js';
import { go } from '../route.js';
import { notice } from '../data.js';
import { ekey, emptyTrash, expiresIn, loadTrash, placeName, purge, restore } from '../folders.js';
import { ListState, Msg, nextKeyOf, RowActions, useRowAction } from './common.js';
import { Icon, QuotaBar, useArmed } from './files.js';

function TrashRow({ e, files, sel, onSelect }) {
  const key = ekey(e);
  const name = e.name;
  const folder = e.kind === 'folder';
  const [busy, run] = useRowAction('tab-trash', key, () => nextKeyOf(files, ekey, key));
  const ad = busy ? 'true' : null;
  const [armed, setArmed] = useArmed();
  const days = expiresIn(e);
  const onPurge = () => {
    if (busy) return;
    if (!armed) { setArmed(true); notice(t('msg.confirmPurge', { name }), ''); return; }
    setArmed(false);
    run(() => purge([e]));
  };
  return html`<tr class="trash-row" data-name=${name} data-key=${key} data-kind=${e.kind} data-id=${e.id} aria-busy=${ad}>
    <td class="sel"><input type="checkbox" class="row-sel" checked=${!!sel[key]}
      aria-label=${t('sel.one', { name })} onChange=${(ev) => onSelect(e, ev.currentTarget.checked)} /></td>
    <td class="name" data-label=${t('col.name')}><${Icon} kind=${e.kind} />${name}
      ${folder ? html` <span class="hint">${t('trash.files', { n: Number(e.files) || 0 })}</span>` : null}</td>
    <td class="place" data-label=${t('col.place')}>${placeName(e.place)}</td>
    <td class="time" data-label=${t('col.deletedAt')}>${fmtDate(e.delete_time)}</td>
    <td class="expires" data-label=${t('col.expires')} data-days=${days}>${days ? t('trash.days', { n: days }) : t('trash.today')}</td>
    <td class="num size" data-label=${t('col.size')}>${fmtSize(folder ? e.bytes : e.size)}</td>
    <td class="acts-cell">
      <${RowActions} name=${name}>
        <button type="button" class="act-restore" aria-disabled=${ad} onClick=${() => run(() => restore([e]))}>${t('act.restore')}</button>
        <button type="button" class="act-purge danger" aria-disabled=${ad} data-armed=${armed ? '1' : null}
          onClick=${onPurge}>${t(armed ? 'act.confirmPurge' : 'act.purge')}</button>
      <//>
    </td>
  </tr>`;
}

export function TrashView({ s }) {
  const r = s.route;
  const list = s.lists.trash || {};
  const data = list.data;
  const files = data ? data.files : [];
  const [sel, setSel] = useState({});
  const [emptyArmed, setEmptyArmed] = useArmed();
  const [purgeArmed, setPurgeArmed] = useArmed();
  useEffect(() => { setSel({}); loadTrash(); }, [r.page]);
  useEffect(() => { if (data && !data.files.length && data.page > 1 && data.page === r.page) go({ ...r, page: r.page - 1 }); }, [data]);
  useEffect(() => {
    const keys = new Set(files.map(ekey));
    setSel((old) => {
      const kept = Object.fromEntries(Object.entries(old).filter(([k]) => keys.has(k)));
      return Object.keys(kept).length === Object.keys(old).length ? old : kept;
    });
  }, [data]);
  const onSelect = (e, on) => setSel((old) => {
    const next = { ...old };
    if (on) next[ekey(e)] = e; else delete next[ekey(e)];
    return next;
  });
  const items = Object.values(sel);
  const n = items.length;
  const all = files.length > 0 && files.every((e) => sel[ekey(e)]);
  const some = files.some((e) => sel[ekey(e)]);
  const allBox = useRef(null);
  useEffect(() => { if (allBox.current) allBox.current.indeterminate = some && !all; });
  // One action on the selection at a time (a second press would find the
  // entries gone).
  const [busy, setBusy] = useState(false);
  const once = (fn) => {
    if (busy) return;
    setBusy(true);
    fn().finally(() => { setBusy(false); setSel({}); focusHead(); });
  };
  const focusHead = () => setTimeout(() => { const h = document.getElementById('trash-h'); if (h) h.focus(); }, 0);
  const onEmpty = () => {
    if (!emptyArmed) { setEmptyArmed(true); notice(t('msg.confirmEmpty'), ''); return; }
    setEmptyArmed(false);
    emptyTrash().then(focusHead);
  };
  const onPurgeSel = () => {
    if (busy) return;
    if (!purgeArmed) { setPurgeArmed(true); notice(t('msg.confirmPurgeN', { n }), ''); return; }
    setPurgeArmed(false);
    once(() => purge(items));
  };
  return html`<div id="tab-trash" class="card tabpane">
    <h2 id="trash-h" class="vh" tabindex="-1">${t('nav.trash')}</h2>
    <${QuotaBar} list=${s.lists.usage} />
    <p class="hint">${t('trash.hint')}</p>
    <div class="toolbar">
      <button id="trash-refresh" type="button" class="light" onClick=${loadTrash}>${t('refresh')}</button>
      <button id="trash-empty" type="button" class="danger" disabled=${!files.length} data-armed=${emptyArmed ? '1' : null}
        onClick=${onEmpty}>${t(emptyArmed ? 'act.confirmEmpty' : 'act.empty')}</button>
    </div>
    <${Msg} id="trash-msg" msg=${s.notice} />
    <p id="trash-sel-status" class="vh" aria-live="polite">${n ? t('sel.count', { n }) : ''}</p>
    <div id="trash-selbar" class="selbar" hidden=${!n}>
      <span id="trash-sel-count">${t('sel.count', { n })}</span>
      <button id="trash-sel-restore" type="button" aria-disabled=${busy ? 'true' : null} onClick=${() => once(() => restore(items))}>${t('act.restore')}</button>
      <button id="trash-sel-purge" type="button" class="danger" aria-disabled=${busy ? 'true' : null} data-armed=${purgeArmed ? '1' : null}
        onClick=${onPurgeSel}>${t(purgeArmed ? 'act.confirmPurge' : 'act.purge')}</button>
      <button id="trash-sel-clear" type="button" class="light" onClick=${() => setSel({})}>${t('sel.clear')}</button>
    </div>
    <${ListState} list=${list} emptyId="trash-empty-state" emptyText=${t('empty.trash')} reload=${loadTrash} />
    ${files.length ? html`<label class="selall"><input type="checkbox" id="trash-sel-all" ref=${allBox} checked=${all}
        onChange=${(ev) => setSel(ev.currentTarget.checked ? Object.fromEntries(files.map((e) => [ekey(e), e])) : {})} /> ${t('sel.all')}</label>
      <table id="trash-table" class="files" aria-busy=${list.loading ? 'true' : 'false'}>
      <caption class="vh">${t('nav.trash')}</caption>
      <thead><tr>
        <th scope="col" class="sel"><span class="vh">${t('col.select')}</span></th>
        <th scope="col">${t('col.name')}</th><th scope="col">${t('col.place')}</th>
        <th scope="col">${t('col.deletedAt')}</th><th scope="col">${t('col.expires')}</th>
        <th scope="col" class="num">${t('col.size')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${files.map((e) => html`<${TrashRow} key=${ekey(e)} e=${e} files=${files} sel=${sel} onSelect=${onSelect} />`)}</tbody>
    </table>` : null}
    ${data && (data.page > 1 || data.more) ? html`<nav class="pager" aria-label=${t('pager.label')}>
      <button id="trash-prev" type="button" class="light" disabled=${data.page <= 1} onClick=${() => go({ ...r, page: data.page - 1 })}>‹ <span>${t('pager.prev')}</span></button>
      <span id="trash-info" aria-live="polite">${t('pager.page', { page: fmtNum(data.page) })}</span>
      <button id="trash-next" type="button" class="light" disabled=${!data.more} onClick=${() => go({ ...r, page: data.page + 1 })}><span>${t('pager.next')}</span> ›</button>
    </nav>` : null}
  </div>`;
}
