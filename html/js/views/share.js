// The public list and the download ranking.
import { html, useEffect } from '../lib.js';
import { fmtDate, fmtNum, fmtSize, t } from '../i18n.js';
import { go } from '../route.js';
import { dealShare, download, fkey, fname, ftime, loadRanking, loadShared } from '../data.js';
import { ListState, Msg, nextKeyOf, Pager, RowActions, useRowAction } from './common.js';

function ShareRow({ f, files, me }) {
  const name = fname(f);
  const key = fkey(f);
  const [busy, run] = useRowAction('tab-share', key, () => nextKeyOf(files, fkey, key));
  const ad = busy ? 'true' : null;
  return html`<tr class="share-row" data-name=${name} data-md5=${f.md5} data-key=${key} aria-busy=${ad}>
    <td class="name" data-label=${t('col.name')}><span class="fname">${name}</span></td>
    <td class="owner" data-label=${t('col.sharedBy')}>${f.user || ''}</td>
    <td class="num size" data-label=${t('col.size')}>${fmtSize(f.size)}</td>
    <td class="time" data-label=${t('col.sharedAt')}>${fmtDate(ftime(f))}</td>
    <td class="num pv" data-label=${t('col.downloads')}>${fmtNum(f.pv || 0)}</td>
    <td class="acts-cell">
      <${RowActions} name=${name}>
        <button type="button" class="act-sdownload" aria-disabled=${ad} onClick=${() => run(() => download(f, 'share'))}>${t('act.download')}</button>
        ${f.user === me
          ? html`<button type="button" class="act-cancel light" aria-disabled=${ad} onClick=${() => run(() => dealShare('cancel', f))}>${t('act.cancelShare')}</button>`
          : html`<button type="button" class="act-save light" aria-disabled=${ad} onClick=${() => run(() => dealShare('save', f))}>${t('act.save')}</button>`}
      <//>
    </td>
  </tr>`;
}

export function ShareView({ s }) {
  const r = s.route;
  const list = s.lists.share || {};
  const data = list.data;
  useEffect(() => { loadShared(); }, [r.page]);
  const files = data ? data.files : [];
  return html`<div id="tab-share" class="card tabpane">
    <h2 id="share-h" class="vh" tabindex="-1">${t('nav.share')}</h2>
    <div class="toolbar">
      <button id="share-refresh" type="button" class="light" onClick=${loadShared}>${t('refresh')}</button>
      <span id="share-count" class="count">${data ? t('share.count', { n: data.total }) : ''}</span>
    </div>
    <${Msg} id="share-msg" msg=${s.notice} />
    <${ListState} list=${list} emptyId="share-empty" emptyText=${t('empty.share')} reload=${loadShared} />
    ${files.length ? html`<table id="share-table" class="files" aria-busy=${list.loading ? 'true' : 'false'}>
      <caption class="vh">${t('nav.share')}</caption>
      <thead><tr>
        <th scope="col">${t('col.name')}</th><th scope="col">${t('col.sharedBy')}</th>
        <th scope="col" class="num">${t('col.size')}</th><th scope="col">${t('col.sharedAt')}</th>
        <th scope="col" class="num">${t('col.downloads')}</th><th scope="col"><span class="vh">${t('col.actions')}</span></th>
      </tr></thead>
      <tbody>${files.map((f) => html`<${ShareRow} key=${fkey(f)} f=${f} files=${files} me=${s.session.user} />`)}</tbody>
    </table>` : null}
    <${Pager} prefix="share" data=${data} onPage=${(p) => go({ ...r, page: p })} />
  </div>`;
}

export function RankView({ s }) {
  const list = s.lists.rank || {};
  useEffect(() => { loadRanking(); }, []);
  const files = list.data ? list.data.files : [];
  return html`<div id="tab-rank" class="card tabpane">
    <h2 id="rank-h" class="vh" tabindex="-1">${t('nav.rank')}</h2>
    <div class="toolbar"><button id="rank-refresh" type="button" class="light" onClick=${loadRanking}>${t('refresh')}</button></div>
    <${ListState} list=${list} emptyId="rank-empty" emptyText=${t('empty.rank')} reload=${loadRanking} />
    ${files.length ? html`<table id="rank-table" class="files rank">
      <caption class="vh">${t('nav.rank')}</caption>
      <thead><tr><th scope="col">${t('col.rank')}</th><th scope="col">${t('col.name')}</th><th scope="col" class="num">${t('col.downloads')}</th></tr></thead>
      <tbody>${files.map((f, i) => html`<tr key=${fkey(f)} class=${'rank-row' + (i < 3 ? ' rank' + (i + 1) : '')} data-name=${fname(f)}>
        <td class="pos" data-label=${t('col.rank')}>${fmtNum(i + 1)}</td>
        <td class="name" data-label=${t('col.name')}>${fname(f)}</td>
        <td class="num pv" data-label=${t('col.downloads')}>${fmtNum(f.pv || 0)}</td>
      </tr>`)}</tbody>
    </table>` : null}
  </div>`;
}
