// Previews (views/preview.js shows them): which files have one, and where
// their bytes come from. Images only through /image (the 800 thumbnail,
// else the original); audio, video, PDF and text from a freshly signed
// storage URL (/download), which Nginx serves with Range, sandboxed and
// never sniffed. Nothing a user supplied is ever put into the page as
// HTML: names and text go in as text, addresses as attributes.
import { call } from './api.js';
import { fname } from './data.js';
import { set, state } from './store.js';

const KINDS = {
  image: ['png', 'jpg', 'jpeg', 'gif', 'webp', 'bmp', 'avif', 'ico'],
  audio: ['mp3', 'm4a', 'aac', 'wav', 'flac', 'ogg', 'oga', 'opus'],
  video: ['mp4', 'm4v', 'webm', 'ogv'],
  pdf: ['pdf'],
  text: ['txt', 'text', 'md', 'markdown', 'log', 'csv', 'tsv', 'json', 'xml', 'yaml', 'yml', 'toml', 'ini', 'conf', 'cfg',
    'go', 'py', 'js', 'ts', 'c', 'h', 'cc', 'cpp', 'hpp', 'java', 'rs', 'sh', 'sql', 'css', 'html', 'htm', 'svg'],
};

// TEXT_BYTES is how much of a text file the preview reads (one Range).
export const TEXT_BYTES = 256 * 1024;

// fileType is the type the server decides by: the content's (the list's
// `type`, which also names the storage file), else the name's extension.
export function fileType(item) {
  const t = String(item.type || '').toLowerCase();
  if (t && t !== 'null') return t;
  const m = /\.([A-Za-z0-9]{1,16})$/.exec(fname(item));
  return m ? m[1].toLowerCase() : '';
}

// previewKind is image | audio | video | pdf | text, or '' (no preview).
export function previewKind(item) {
  const t = fileType(item);
  for (const k of Object.keys(KINDS)) if (KINDS[k].includes(t)) return k;
  return '';
}

function shared(item) { return Number(item.share_status || item.shared_status || 0) === 1; }

// imageURL is the /image address of an entry (size '' for the original):
// the public one when shared, else the owner's (the token cookie goes with it).
export function imageURL(item, size) {
  const q = new URLSearchParams({ md5: item.md5, filename: fname(item) });
  if (size) q.set('size', size);
  if (!shared(item)) q.set('user', item.user || (state.session ? state.session.user : ''));
  return '/image?' + q.toString();
}

// previewImageURL: the 800 thumbnail when the entry has thumbnails (the
// two are made together), else the original.
export function previewImageURL(item) {
  if (item.thumb800) return item.thumb800;
  return item.thumb ? imageURL(item, '800') : imageURL(item, '');
}

// embeds are what a shared image offers to paste elsewhere: its direct
// link (absolute, stable), Markdown and HTML. The name is escaped for each.
export function embeds(item) {
  const name = fname(item);
  const link = new URL('/image?' + new URLSearchParams({ md5: item.md5, filename: name }).toString(), location.href).href;
  const md = '![' + name.replace(/[\\[\]]/g, '\\$&') + '](' + link + ')';
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  return { link, md, html: '<img src="' + esc(link) + '" alt="' + esc(name) + '">' };
}

// signedURL asks /download for a fresh storage URL of the entry (a list's
// may be older than its expiry). Resolves to the URL, or '' with the answer.
export async function signedURL(item) {
  const res = await call('/download', { user: state.session ? state.session.user : '', md5: item.md5, filename: fname(item) });
  return res.code === '025' && res.url ? { url: res.url } : { url: '', res };
}

// fetchText reads the first TEXT_BYTES of url as UTF-8 text (bad bytes
// become U+FFFD). Resolves to { text, cut } (cut: the file is longer).
export async function fetchText(url, size) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 30000);
  try {
    const r = await fetch(url, { headers: { Range: 'bytes=0-' + (TEXT_BYTES - 1) }, signal: ctl.signal, credentials: 'same-origin' });
    if (r.status !== 200 && r.status !== 206) throw Object.assign(new Error('HTTP ' + r.status), { kind: 'server' });
    const buf = await r.arrayBuffer();
    const bytes = new Uint8Array(buf, 0, Math.min(buf.byteLength, TEXT_BYTES));
    const text = new TextDecoder('utf-8').decode(bytes, { stream: bytes.length < buf.byteLength || Number(size) > TEXT_BYTES });
    return { text, cut: Number(size) > TEXT_BYTES || buf.byteLength > TEXT_BYTES };
  } catch (e) {
    throw e.kind ? e : Object.assign(e, { kind: ctl.signal.aborted ? 'timeout' : 'offline' });
  } finally {
    clearTimeout(timer);
  }
}

// copyText puts text on the clipboard; without the clipboard API (or its
// permission) it selects a field and asks the browser to copy.
export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (e) {
    const back = document.activeElement;
    const el = document.body.appendChild(Object.assign(document.createElement('textarea'), { value: text, readOnly: true }));
    el.focus();
    el.select();
    let ok = false;
    try { ok = document.execCommand('copy'); } catch (e2) { ok = false; }
    el.remove();
    if (back) back.focus();
    return ok;
  }
}

// The element that opened the preview gets the focus back when it closes.
let opener = null;
// Each preview opened gets a number: the dialog's late "close" event
// ends only the one it showed (views/preview.js).
let seq = 0;

// openPreview shows item in the preview dialog; opener (the button
// pressed, by default the focused element) gets the focus back.
export function openPreview(item, from) {
  if (!previewKind(item)) return;
  opener = from || document.activeElement;
  set({ preview: { item, seq: ++seq } });
}

// closePreview closes the dialog and puts the focus back on the opener,
// or, when a closed row menu hides it, on that menu's button. With n, only
// if the preview shown is still number n.
export function closePreview(n) {
  if (!state.preview || (typeof n === 'number' && state.preview.seq !== n)) return;
  set({ preview: null });
  const o = opener;
  opener = null;
  setTimeout(() => {
    if (!o || !o.isConnected) return;
    if (o.offsetParent !== null) { o.focus(); return; }
    const wrap = o.closest('.acts-wrap');
    const menu = wrap && wrap.querySelector('.menu-btn');
    if (menu) menu.focus();
  }, 0);
}

// updatePreview replaces the item shown (after sharing it).
export function updatePreview(item) {
  if (state.preview) set({ preview: { ...state.preview, item } });
}
