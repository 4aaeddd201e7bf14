// The page: header (language switch, session), the tabs, the current view,
// and the drop zone for uploads.
import { html, useEffect, useState } from '../lib.js';
import { languages, setLang, t } from '../i18n.js';
import { logOut } from '../session.js';
import { set } from '../store.js';
import { go } from '../route.js';
import { addFiles } from '../upload.js';
import { Login, Register } from './auth.js';
import { FilesView } from './files.js';
import { RankView, ShareView } from './share.js';
import { TransfersView } from './transfers.js';
import { LandingView, LinkDialog, LinksView } from './links.js';
import { DavView } from './dav.js';
import { TrashView } from './trash.js';
import { GalleryView } from './gallery.js';
import { PreviewDialog } from './preview.js';

const TABS = [
  ['files', 'nav-myfiles', 'nav.files', FilesView],
  ['gallery', 'nav-gallery', 'nav.gallery', GalleryView],
  ['share', 'nav-share', 'nav.share', ShareView],
  ['rank', 'nav-rank', 'nav.rank', RankView],
  ['links', 'nav-links', 'nav.links', LinksView],
  ['transfers', 'nav-transfer', 'nav.transfers', TransfersView],
  ['trash', 'nav-trash', 'nav.trash', TrashView],
  ['dav', 'nav-dav', 'nav.dav', DavView],
];

function Header({ s }) {
  return html`<header id="topbar">
    <span class="brand" lang="zh-CN">yunpan 云盘</span>
    <div class="top-right">
      <label for="lang" class="vh">${t('lang.label')}</label>
      <select id="lang" value=${s.lang} onChange=${(e) => setLang(e.currentTarget.value)}>
        ${languages.map(([v, label]) => html`<option value=${v} lang=${v}>${label}</option>`)}
      </select>
      ${s.session ? html`<span id="session">
        <span id="whoami" aria-label=${t('session.user', { user: s.session.user })}>${s.session.user}</span>
        <button id="logout-btn" type="button" onClick=${logOut}>${t('logout')}</button>
      </span>` : null}
    </div>
  </header>`;
}

// useDrop accepts files dropped anywhere on the page while signed in.
function useDrop(active, route) {
  const [over, setOver] = useState(false);
  useEffect(() => {
    if (!active) return undefined;
    const hasFiles = (e) => e.dataTransfer && Array.from(e.dataTransfer.types || []).includes('Files');
    const onOver = (e) => { if (!hasFiles(e)) return; e.preventDefault(); e.dataTransfer.dropEffect = 'copy'; setOver(true); };
    const onLeave = (e) => { if (!e.relatedTarget) setOver(false); };
    const onDrop = (e) => {
      if (!e.dataTransfer) return;
      e.preventDefault();
      setOver(false);
      const files = Array.from(e.dataTransfer.files || []);
      if (!files.length) return;
      if (route.tab !== 'files') go({ tab: 'files', page: 1, sort: route.sort, folder: 0, q: '' });
      addFiles(files);
    };
    document.addEventListener('dragover', onOver);
    document.addEventListener('dragleave', onLeave);
    document.addEventListener('drop', onDrop);
    return () => {
      document.removeEventListener('dragover', onOver);
      document.removeEventListener('dragleave', onLeave);
      document.removeEventListener('drop', onDrop);
    };
  }, [active, route.tab]);
  return over;
}

function Main({ s }) {
  const tab = TABS.find((x) => x[0] === s.route.tab) || TABS[0];
  const View = tab[3];
  // A new tab starts without the last tab's message.
  useEffect(() => { set({ notice: null }); }, [s.route.tab]);
  // Just signed in: the focus goes to the view (the login button is gone).
  useEffect(() => {
    const h = document.getElementById('files-h') || document.querySelector('.tabpane h2');
    if (h && (document.activeElement === document.body || !document.activeElement)) h.focus();
  }, []);
  return html`<section id="view-main">
    <nav aria-label=${t('nav.label')}>
      <ul id="tabs">${TABS.map(([name, id, label]) => html`<li>
        <a id=${id} class=${'tab' + (name === tab[0] ? ' active' : '')} href=${'#/' + name}
          aria-current=${name === tab[0] ? 'page' : null}>${t(label)}</a></li>`)}</ul>
    </nav>
    <${View} s=${s} />
    <p class="lastdl">${t('lastDownload')} <a id="download-link" href=${s.lastDownload ? s.lastDownload.url : null}
      download=${s.lastDownload ? s.lastDownload.name : null} data-md5=${s.lastDownload ? s.lastDownload.md5 : null}
      rel="noopener">${s.lastDownload ? s.lastDownload.name : ''}</a></p>
    <${LinkDialog} s=${s} />
    <${PreviewDialog} s=${s} />
  </section>`;
}

export function App({ s }) {
  const over = useDrop(!!s.session, s.route);
  let body;
  // A share link's landing page works whether or not anyone is signed in.
  if (s.route.tab === 's') body = html`<${LandingView} token=${s.route.token} />`;
  else if (s.booting) body = html`<p class="state loading" role="status">${t('loading')}</p>`;
  else if (!s.session) body = s.route.tab === 'register' ? html`<${Register} />` : html`<${Login} s=${s} />`;
  else body = html`<${Main} s=${s} />`;
  return html`
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>${t('skip')}</a>
    <${Header} s=${s} />
    <main id="main" tabindex="-1">${body}</main>
    ${over ? html`<div id="dropzone" aria-hidden="true"><p>${t('up.drop')}</p></div>` : null}`;
}
