// Chunked, resumable uploads (/chunk, docs/api.md §1.15) for files larger
// than one chunk. The server keeps each unfinished upload (its ID, how many
// bytes it has); the page remembers in localStorage which file went with
// which upload (name, size, lastModified, ID), so that after a dropped
// connection, a reload or a browser restart the upload goes on from the
// server's offset instead of from the start. A browser cannot reopen a
// file by itself: after a reload the user picks it again.
import { ApiError, Cancelled, call, check, parse } from './api.js';
import { state } from './store.js';

const MEMORY = 'yunpan.chunked.'; // + user name
const MAX_TRIES = 7;              // failed attempts in a row before a file fails (about a minute of back-off)
const STALL = 60000;              // ms without progress that end a chunk request

let info = null; // { chunkSize, maxSize, sessions } from /chunk?cmd=list

// chunkInfo asks the server for the chunk size, the size limit and the
// user's unfinished uploads (once per sign-in unless fresh). null when the
// server has no /chunk: then every file goes through /upload.
export async function chunkInfo(fresh) {
  if (info && !fresh) return info;
  try {
    const res = await call('/chunk?cmd=list', {});
    if (res.code !== '080') return null;
    info = { chunkSize: Number(res.chunk_size), maxSize: Number(res.max_size), sessions: res.sessions || [] };
  } catch (e) {
    if (e.kind === 'expired') throw e;
    return null;
  }
  return info;
}

export function forgetInfo() { info = null; }

function memKey() { return MEMORY + (state.session ? state.session.user : ''); }

// remembered is what this browser knows of the user's unfinished uploads:
// [{ id, name, size, lastModified }].
export function remembered() {
  try {
    const v = JSON.parse(localStorage.getItem(memKey()) || '[]');
    return Array.isArray(v) ? v : [];
  } catch (e) {
    return [];
  }
}

function keep(list) {
  try { localStorage.setItem(memKey(), JSON.stringify(list.slice(-64))); } catch (e) { /* private mode: the server's list still helps */ }
}

function remember(file, id) {
  keep([...remembered().filter((r) => r.id !== id), { id, name: file.name, size: file.size, lastModified: file.lastModified }]);
}

export function forget(id) { keep(remembered().filter((r) => r.id !== id)); }

// matches tells whether file can be the one an unfinished upload started
// with: same name and size, and the same lastModified when it was noted.
export function matches(file, s) {
  if (file.name !== s.name || file.size !== s.size) return false;
  const mine = remembered().find((r) => r.id === s.id);
  return !mine || !mine.lastModified || mine.lastModified === file.lastModified;
}

// sessionOf is the unfinished upload file can resume: this browser's own
// record first, else the server's list (same name and size).
function sessionOf(file) {
  const mine = remembered().find((r) => r.name === file.name && r.size === file.size && r.lastModified === file.lastModified);
  if (mine) return mine.id;
  const s = info && info.sessions.find((x) => x.file_name === file.name && Number(x.size) === file.size);
  return s ? s.id : '';
}

// abort drops an unfinished upload on the server (what it stored goes).
export async function abort(id) {
  forget(id);
  if (info) info.sessions = info.sessions.filter((s) => s.id !== id);
  try { await call('/chunk?cmd=abort', { id }); } catch (e) { /* it expires by itself */ }
}

function sleep(ms, ctl) {
  return new Promise((resolve) => {
    let timer = 0;
    const done = () => { clearTimeout(timer); window.removeEventListener('online', done); clearInterval(poll); resolve(); };
    timer = setTimeout(done, ms);
    window.addEventListener('online', done); // the network is back: try at once
    const poll = setInterval(() => { if (ctl.cancelled()) done(); }, 200);
  });
}

async function digest(blob) {
  const buf = new Uint8Array(await blob.arrayBuffer());
  if (window.crypto && window.crypto.subtle) {
    const h = new Uint8Array(await window.crypto.subtle.digest('SHA-256', buf));
    return { header: 'X-Chunk-SHA256', value: Array.from(h, (b) => b.toString(16).padStart(2, '0')).join('') };
  }
  // Plain HTTP on another host: no SHA-256 in the browser, md5.js instead.
  return { header: 'X-Chunk-MD5', value: new window.YunMD5().update(buf).hex() };
}

// put sends one chunk with XMLHttpRequest (fetch reports no upload
// progress); the token cookie goes with it.
function put(ctl, id, offset, blob, hash) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    ctl.setXhr(xhr);
    xhr.open('POST', '/chunk?cmd=put&id=' + encodeURIComponent(id) + '&offset=' + offset);
    xhr.setRequestHeader('Content-Type', 'application/octet-stream');
    xhr.setRequestHeader(hash.header, hash.value);
    let heard = performance.now();
    let stalled = false;
    const watch = setInterval(() => {
      if (performance.now() - heard > STALL) { stalled = true; xhr.abort(); }
    }, 1000);
    const done = () => { clearInterval(watch); ctl.setXhr(null); };
    xhr.upload.onprogress = (e) => { heard = performance.now(); ctl.progress(offset + e.loaded); };
    xhr.onload = () => {
      done();
      try { resolve(check(parse(xhr.status, xhr.responseText))); } catch (e) { reject(e); }
    };
    xhr.onerror = () => { done(); reject(new ApiError('offline')); };
    xhr.onabort = () => { done(); reject(stalled ? new ApiError('timeout') : new Cancelled()); };
    xhr.send(blob);
  });
}

// send uploads file in chunks, going on with the unfinished upload sid
// (or the one this file had) when there is one, and returns the finish
// answer (008 like /upload), or the refusal that ends it (087 too large,
// 081 …). ctl:
// { cancelled(), setXhr(xhr), session(id), progress(bytes), resumed(offset),
// waiting(on) }.
// A chunk that fails (network, busy server, bad hash on the way) is sent
// again after a back-off of 1, 2, 4 … 30 s, from the offset the server
// reports; MAX_TRIES failures in a row end it (Retry goes on from there).
export async function send(file, ctl, md5, sid) {
  let id = sid || sessionOf(file);
  let offset = 0;
  let chunk = 0;
  if (id) {
    const st = await call('/chunk?cmd=status', { id });
    if (st.code === '080' && Number(st.size) === file.size && st.file_name === file.name) {
      offset = Number(st.offset);
      chunk = Number(st.chunk_size);
      ctl.resumed(offset);
    } else {
      forget(id);
      id = '';
    }
  }
  if (!id) {
    const ask = { filename: file.name, size: file.size };
    if (md5) ask.md5 = md5;
    const res = await call('/chunk?cmd=init', ask);
    if (res.code !== '080') return res;
    id = res.id;
    chunk = Number(res.chunk_size);
    remember(file, id);
  }
  ctl.session(id);
  ctl.progress(offset);
  let tries = 0;
  let lastErr = null;
  // The next chunk is read and hashed while this one is on its way.
  const piece = (at) => {
    const blob = file.slice(at, Math.min(at + chunk, file.size));
    const hash = digest(blob);
    hash.catch(() => {}); // a piece never sent must not report its failure
    return { at, blob, hash };
  };
  let next = null;
  while (offset < file.size) {
    if (ctl.cancelled()) throw new Cancelled();
    const cur = next && next.at === offset ? next : piece(offset);
    const after = offset + cur.blob.size;
    next = after < file.size ? piece(after) : null;
    let res = null;
    try {
      res = await put(ctl, id, offset, cur.blob, await cur.hash);
    } catch (e) {
      if (e.kind === 'cancelled' || e.kind === 'expired' || ctl.cancelled()) throw e.kind ? e : new Cancelled();
      lastErr = e;
    }
    if (res && (res.code === '080' || res.code === '082')) {
      if (res.code === '080') tries = 0;
      offset = Number(res.offset);
      ctl.progress(offset);
      ctl.waiting(false);
      continue;
    }
    if (res && ['081', '085', '087', '089'].includes(res.code)) {
      if (res.code !== '081') forget(id);
      return res;
    }
    // 083 (damaged on the way), 084 (busy), a lost connection, 5xx.
    if (res) lastErr = new ApiError('busy', res.code);
    if (++tries >= MAX_TRIES) throw lastErr;
    ctl.waiting(true);
    await sleep(Math.min(30000, 1000 * 2 ** (tries - 1)), ctl);
    try {
      const st = await call('/chunk?cmd=status', { id });
      if (st.code === '080') offset = Number(st.offset);
      else if (st.code === '085') { forget(id); return st; }
    } catch (e) {
      if (e.kind === 'expired') throw e;
      lastErr = e; // still away: the next put finds out again
    }
  }
  ctl.waiting(false);
  const fin = await call('/chunk?cmd=finish', { id });
  if (fin.code !== '084' && fin.code !== '086') forget(id);
  if (info) info.sessions = info.sessions.filter((s) => s.id !== id);
  return fin;
}
