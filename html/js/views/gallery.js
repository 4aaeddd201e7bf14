// Images: the user's images as a grid of thumbnails (lazy-loaded, a
// placeholder until the thumbnail is made), paged; a tile opens the
// preview; a shared image offers its direct link, Markdown and HTML.
import { html, useEffect } from '../lib.js';
import { t } from '../i18n.js';
import { go } from '../route.js';
import { fname, notice } from '../data.js';
import { loadGallery } from '../gallery.js';
import { copyText, embeds, openPreview } from '../preview.js';
import { ListState, Msg, Pager } from './common.js';

function Tile({ f }) {
  const name = fname(f);
  const shared = Number(f.share_status || 0) === 1;
  const copy = async (what, text) => {
    const ok = await copyText(text);
    notice(t(ok ? 'gal.copied' : 'link.copyFailed', { what, name }), ok ? 'ok' : 'err');
  };
  const e = shared ? embeds(f) : null;
  return html`<li class="g-item" data-name=${name} data-md5=${f.md5} data-shared=${shared ? '1' : '0'}>
    <button type="button" class="g-open" aria-haspopup="dialog" aria-label=${f.thumb ? t('gal.open', { name }) : null}
      onClick=${(ev) => openPreview(f, ev.currentTarget)}>
      ${f.thumb ? html`<img class="g-thumb" src=${f.thumb} alt=${name} loading="lazy" width="150" height="150" />`
        : html`<span class="vh">${t('gal.open', { name })}: </span><span class="g-thumb g-ph">${t('gal.noThumb')}</span>`}
    </button>
    <span class="g-name fname">${name}</span>
    ${shared ? html`<div class="g-copy" role="group" aria-label=${t('gal.embedOf', { name })}>
      <button type="button" class="light g-copy-link" aria-label=${t('gal.copyOf', { what: t('gal.link'), name })}
        onClick=${() => copy(t('gal.link'), e.link)}>${t('gal.link')}</button>
      <button type="button" class="light g-copy-md" aria-label=${t('gal.copyOf', { what: 'Markdown', name })}
        onClick=${() => copy('Markdown', e.md)}>Markdown</button>
      <button type="button" class="light g-copy-html" aria-label=${t('gal.copyOf', { what: 'HTML', name })}
        onClick=${() => copy('HTML', e.html)}>HTML</button>
    </div>` : null}
  </li>`;
}

export function GalleryView({ s }) {
  const r = s.route;
  const list = s.lists.gallery || {};
  const data = list.data;
  useEffect(() => { loadGallery(); }, [r.page]);
  const files = data ? data.files : [];
  return html`<div id="tab-gallery" class="card tabpane">
    <h2 id="gallery-h" class="vh" tabindex="-1">${t('nav.gallery')}</h2>
    <div class="toolbar">
      <button id="gallery-refresh" type="button" class="light" onClick=${loadGallery}>${t('refresh')}</button>
      <span id="gallery-count" class="count">${data ? t('gal.count', { n: data.total }) : ''}</span>
    </div>
    <${Msg} id="gallery-msg" msg=${s.notice} />
    <${ListState} list=${list} emptyId="gallery-empty" emptyText=${t('gal.empty')} reload=${loadGallery} />
    ${files.length ? html`<ul id="gallery-grid" class="gallery" aria-label=${t('nav.gallery')} aria-busy=${list.loading ? 'true' : 'false'}>
      ${files.map((f) => html`<${Tile} key=${f.md5 + '/' + fname(f)} f=${f} />`)}
    </ul>` : null}
    <${Pager} prefix="gallery-page" data=${data} onPage=${(p) => go({ ...r, page: p })} />
  </div>`;
}
