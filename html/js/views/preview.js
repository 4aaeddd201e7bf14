// The preview dialog: an image (through /image), audio and video (the
// browser's own controls, streaming with Range from a signed storage URL),
// a PDF (a frame of the signed URL: the storage answers it with
// "Content-Security-Policy: sandbox", so it runs nothing as this origin)
// and text (the first 256 KiB, as text in a <pre>). A modal <dialog>:
// the rest of the page is inert, Escape closes it, the focus goes back to
// the button that opened it (js/preview.js).
import { html, useEffect, useRef, useState } from '../lib.js';
import { fmtDate, fmtSize, t } from '../i18n.js';
import { call, humanError, why } from '../api.js';
import { download, fname, ftime, loadMyFiles } from '../data.js';
import { loadGallery } from '../gallery.js';
import { state } from '../store.js';
import { closePreview, copyText, embeds, fetchText, imageURL, previewImageURL, previewKind, signedURL, updatePreview } from '../preview.js';
import { Msg } from './common.js';

// useSigned fetches a fresh signed URL of item: { url } or { error }.
function useSigned(item) {
  const [st, setSt] = useState({});
  useEffect(() => {
    let live = true;
    signedURL(item).then((r) => {
      if (live) setSt(r.url ? { url: r.url } : { error: t('pv.failed', { why: why(r.res) }) });
    }, (e) => { if (live && e.kind !== 'expired') setSt({ error: humanError(e) }); });
    return () => { live = false; };
  }, [item.md5, fname(item)]);
  return st;
}

function Loading() { return html`<p class="state loading" role="status">${t('loading')}</p>`; }
function Failed({ text }) { return html`<p id="preview-error" class="state err" role="alert">${text}</p>`; }

function ImageBody({ item }) {
  const name = fname(item);
  const [src, setSrc] = useState(previewImageURL(item));
  const [bad, setBad] = useState(false);
  const orig = imageURL(item, '');
  // No 800 thumbnail after all: the original; failing that, say so.
  const onError = () => { if (src !== orig) setSrc(orig); else setBad(true); };
  if (bad) return html`<${Failed} text=${t('pv.noImage')} />`;
  return html`<img id="preview-img" class="pv-img" src=${src} alt=${name} onError=${onError} />`;
}

function MediaBody({ item, kind }) {
  const s = useSigned(item);
  const [bad, setBad] = useState(false);
  if (s.error) return html`<${Failed} text=${s.error} />`;
  if (!s.url) return html`<${Loading} />`;
  if (bad) return html`<${Failed} text=${t('pv.noMedia')} />`;
  const props = { id: 'preview-media', class: 'pv-media', src: s.url, controls: true, preload: 'metadata',
    'aria-label': fname(item), onError: () => setBad(true) };
  return kind === 'audio' ? html`<audio ...${props}></audio>` : html`<video ...${props} playsinline></video>`;
}

// PdfBody frames the signed URL without a sandbox attribute: Chromium
// refuses to run its PDF viewer in a sandboxed frame ("This page has been
// blocked"), and the storage already answers every file with
// "Content-Security-Policy: sandbox" and nosniff, so the document runs no
// script as this origin either way (object-src 'none' rules out <object>).
function PdfBody({ item }) {
  const s = useSigned(item);
  if (s.error) return html`<${Failed} text=${s.error} />`;
  if (!s.url) return html`<${Loading} />`;
  return html`<iframe id="preview-frame" class="pv-frame" src=${s.url} title=${fname(item)} referrerpolicy="no-referrer"></iframe>
    <p class="hint">${t('pv.pdfHint')} <a id="preview-open" href=${s.url} target="_blank" rel="noopener noreferrer">${t('pv.openPdf')}</a></p>`;
}

function TextBody({ item }) {
  const s = useSigned(item);
  const [got, setGot] = useState(null);
  useEffect(() => {
    if (!s.url) return undefined;
    let live = true;
    fetchText(s.url, item.size).then((r) => { if (live) setGot(r); }, (e) => { if (live) setGot({ error: humanError(e) }); });
    return () => { live = false; };
  }, [s.url]);
  if (s.error) return html`<${Failed} text=${s.error} />`;
  if (!got) return html`<${Loading} />`;
  if (got.error) return html`<${Failed} text=${got.error} />`;
  return html`${got.cut ? html`<p id="preview-cut" class="hint">${t('pv.textCut')}</p>` : null}
    <pre id="preview-text" class="pv-text" tabindex="0" aria-label=${t('pv.textOf', { name: fname(item) })}>${got.text}</pre>`;
}

// Embeds are a shared image's direct link, Markdown and HTML, to copy.
function Embeds({ item, onMsg }) {
  const e = embeds(item);
  const rows = [['embed-link', t('gal.link'), e.link], ['embed-md', 'Markdown', e.md], ['embed-html', 'HTML', e.html]];
  return html`<div id="preview-embeds" class="pv-embeds">
    <h3>${t('pv.embed')}</h3>
    ${rows.map(([id, label, value]) => html`<div class="copy-field">
      <label for=${id}>${label}</label>
      <div class="copy-row">
        <input id=${id} readonly value=${value} onFocus=${(ev) => ev.currentTarget.select()} />
        <button id=${id + '-copy'} type="button" class="light" aria-label=${t('link.copyOf', { what: label })}
          onClick=${async () => { const ok = await copyText(value); onMsg({ text: t(ok ? 'link.copied' : 'link.copyFailed'), kind: ok ? 'ok' : 'err' }); }}>${t('link.copy')}</button>
      </div>
    </div>`)}
  </div>`;
}

export function PreviewDialog({ s }) {
  const p = s.preview;
  const ref = useRef(null);
  const shown = useRef(0); // the number of the preview the dialog shows (js/preview.js)
  const [msg, setMsg] = useState(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => {
    const dlg = ref.current;
    if (!dlg) return;
    if (p && !dlg.open) {
      setMsg(null);
      shown.current = p.seq;
      dlg.showModal();
    } else if (!p && dlg.open) {
      dlg.close();
    }
  }, [p]);
  // "close" is a task queued after the dialog closed (Escape, or a button):
  // by then another preview may be on its way or open, which it must not
  // close. It ends the preview the dialog showed, if that is still the one.
  const onClose = (e) => { if (!e.currentTarget.open) closePreview(shown.current); };
  const item = p ? p.item : null;
  const kind = item ? previewKind(item) : '';
  const name = item ? fname(item) : '';
  const shared = item && Number(item.share_status || item.shared_status || 0) === 1;
  const share = async () => {
    if (busy) return;
    setBusy(true);
    try {
      const res = await call('/dealfile?cmd=share', { user: state.session ? state.session.user : '', md5: item.md5, filename: name });
      if (res.code === '010') {
        updatePreview({ ...item, share_status: 1 });
        setMsg({ text: t('pv.sharedNow', { name }), kind: 'ok' });
        (state.route.tab === 'gallery' ? loadGallery : loadMyFiles)();
      } else {
        setMsg({ text: t(res.code === '012' ? 'msg.alreadyShared' : 'msg.shareFailed', { name }), kind: 'err' });
      }
    } catch (e) {
      if (e.kind !== 'expired') setMsg({ text: humanError(e), kind: 'err' });
    } finally {
      setBusy(false);
    }
  };
  let body = null;
  if (item) {
    const key = item.md5 + '/' + name;
    if (kind === 'image') body = html`<${ImageBody} key=${key} item=${item} />`;
    else if (kind === 'audio' || kind === 'video') body = html`<${MediaBody} key=${key} item=${item} kind=${kind} />`;
    else if (kind === 'pdf') body = html`<${PdfBody} key=${key} item=${item} />`;
    else if (kind === 'text') body = html`<${TextBody} key=${key} item=${item} />`;
  }
  return html`<dialog id="preview-dialog" ref=${ref} aria-labelledby="preview-h"
    data-kind=${kind || null} onClose=${onClose}>
    <div class="pv-head">
      <h2 id="preview-h" class="fname">${name}</h2>
      <button id="preview-close" type="button" class="light" onClick=${() => closePreview()} aria-label=${t('pv.close')}>✕</button>
    </div>
    ${item ? html`<p class="hint pv-facts">${t('pv.facts', { size: fmtSize(item.size), when: fmtDate(ftime(item)) })}</p>` : null}
    <div class="pv-body">${body}</div>
    ${item && kind === 'image' && shared ? html`<${Embeds} item=${item} onMsg=${setMsg} />` : null}
    ${item ? html`<div class="dialog-acts">
      ${kind === 'image' && !shared && item.id ? html`<button id="preview-share" type="button" class="light" disabled=${busy}
        onClick=${share}>${t('pv.share')}</button>` : null}
      <button id="preview-download" type="button" class="light" onClick=${() => download(item, 'mine')}>${t(kind === 'pdf' ? 'pv.downloadInstead' : 'act.download')}</button>
      <button id="preview-done" type="button" onClick=${() => closePreview()}>${t('link.close')}</button>
    </div>` : null}
    <${Msg} id="preview-msg" msg=${msg} />
  </dialog>`;
}
