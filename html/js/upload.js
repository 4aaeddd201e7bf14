// The upload queue: every file the user picks or drops gets a row with its
// own phase (queued → checking → hashing → uploading → done, or failed /
// cancelled, both retryable; waiting while a lost connection is retried;
// paused for an unfinished upload of an earlier visit, until the user
// picks its file again), progress, speed and time left. Up to PARALLEL
// files go at once; the file list refreshes as each one lands.
//
// Instant upload (秒传): the page hashes the file (html/md5.js), asks /md5
// with the size, answers the server's challenge with byte ranges of the
// file (proof of possession) and sends nothing when the server links it.
// Files larger than one chunk (the server's chunk_size) go through /chunk
// in chunks and survive a lost connection, a reload or a browser restart
// (chunked.js); smaller ones are one /upload request, which is quicker and
// has nothing to resume.
import { ApiError, Cancelled, call, check, humanError, parse, why } from './api.js';
import { fmtSize, t } from './i18n.js';
import { epoch, set, state } from './store.js';
import { loadMyFiles, record } from './data.js';
import * as chunked from './chunked.js';

// Nginx's client_max_body_size for files (max_upload_bytes, 50 MiB):
// bigger files are refused before a byte is hashed or sent.
export const MAX_UPLOAD = 50 * 1024 * 1024;
// An upload that sends nothing and hears nothing for this long has failed
// (the server stores a whole file before it answers: allow for that).
const STALL = 120000;

// Files that upload at the same time: a few keep a fast line busy
// without taking every connection the browser has for the page.
const PARALLEL = 3;

const files = new Map(); // id → { file, xhr, cancelled }
let nextId = 0;
let running = 0;

function patch(id, p) {
  set((s) => ({ uploads: s.uploads.map((u) => (u.id === id ? { ...u, ...p } : u)) }));
}

function say(text) { set({ uploadMsg: text }); }

export function addFiles(list) {
  const added = [];
  for (const file of list) {
    const paused = state.uploads.find((u) => u.phase === 'paused' && chunked.matches(file, { id: u.sid, name: u.name, size: u.size }));
    if (paused) { // the file of an unfinished upload: go on with it
      files.set(paused.id, { file, cancelled: false });
      patch(paused.id, { phase: 'queued', error: '' });
      continue;
    }
    const id = ++nextId;
    files.set(id, { file, cancelled: false });
    added.push({ id, name: file.name, size: file.size, phase: 'queued', pct: 0, speed: 0, eta: 0, error: '' });
  }
  if (added.length) {
    set((s) => ({ uploads: [...s.uploads, ...added] }));
    say(t('up.started', { n: added.length }));
  }
  pump();
}

// resumeWith takes the file the user picked for the paused row id: the
// upload goes on if it is the same file (name, size, date).
export function resumeWith(id, file) {
  const u = state.uploads.find((x) => x.id === id);
  if (!u || !file) return;
  if (!chunked.matches(file, { id: u.sid, name: u.name, size: u.size })) {
    patch(id, { error: t('up.notSame', { name: u.name }) });
    say(t('up.notSame', { name: u.name }));
    return;
  }
  files.set(id, { file, cancelled: false });
  patch(id, { phase: 'queued', error: '' });
  pump();
}

// loadUnfinished lists the unfinished uploads the server keeps for the
// user (and this browser remembers) as paused rows, once per sign-in.
export async function loadUnfinished() {
  const ep = epoch;
  let info;
  try { info = await chunked.chunkInfo(true); } catch (e) { return; }
  if (!info || ep !== epoch) return;
  const known = new Set(state.uploads.map((u) => u.sid).filter(Boolean));
  const rows = [];
  for (const s of info.sessions) {
    if (known.has(s.id)) continue;
    const size = Number(s.size);
    rows.push({ id: ++nextId, sid: s.id, name: s.file_name, size, phase: 'paused',
      pct: size ? (100 * Number(s.offset)) / size : 0, speed: 0, eta: 0, error: '' });
  }
  // What this browser remembers but the server no longer has is gone.
  const live = new Set(info.sessions.map((s) => s.id));
  for (const r of chunked.remembered()) if (!live.has(r.id)) chunked.forget(r.id);
  if (rows.length) {
    set((s) => ({ uploads: [...s.uploads, ...rows] }));
    say(t('up.unfinished', { n: rows.length }));
  }
}

export function cancel(id) {
  const f = files.get(id);
  if (!f) return;
  f.cancelled = true;
  if (f.xhr) f.xhr.abort();
  const u = state.uploads.find((x) => x.id === id);
  if (u && u.phase === 'queued') finish(id, 'cancelled', t('up.cancelled', { name: u.name }));
}

// discard drops a paused (or cancelled) chunked upload and what the
// server stored of it.
export function discard(id) {
  const u = state.uploads.find((x) => x.id === id);
  if (u && u.sid) chunked.abort(u.sid);
  remove(id);
}

export function retry(id) {
  const f = files.get(id);
  if (!f) return;
  f.cancelled = false;
  patch(id, { phase: 'queued', pct: 0, speed: 0, eta: 0, error: '' });
  pump();
}

export function remove(id) {
  files.delete(id);
  set((s) => ({ uploads: s.uploads.filter((u) => u.id !== id) }));
}

export function clearFinished() {
  for (const u of state.uploads) if (u.phase === 'done') files.delete(u.id);
  set((s) => ({ uploads: s.uploads.filter((u) => u.phase !== 'done') }));
}

// cancelAll stops everything (sign-out). Unfinished chunked uploads stay
// on the server, to be resumed at the next sign-in.
export function cancelAll() {
  for (const f of files.values()) {
    f.cancelled = true;
    if (f.xhr) f.xhr.abort();
  }
  files.clear();
  chunked.forgetInfo();
}

function finish(id, phase, text, error) {
  const u = state.uploads.find((x) => x.id === id);
  if (!u) return;
  patch(id, { phase, error: error || '', speed: 0, eta: 0, pct: phase === 'done' ? 100 : u.pct });
  say(text);
}

// pump runs the queued files, PARALLEL at a time, in their order. A
// sign-out empties the queue; a file of the next session queued meanwhile
// is taken up here.
function pump() {
  while (running < PARALLEL) {
    const next = state.uploads.find((u) => u.phase === 'queued' && files.has(u.id));
    if (!next) return;
    running++;
    patch(next.id, { phase: 'checking', pct: 0 }); // taken: the next pass skips it
    runOne(next.id, epoch).finally(() => { running--; pump(); });
  }
}

async function runOne(id, ep) {
  const f = files.get(id);
  const file = f.file;
  const name = file.name;
  const live = () => ep === epoch && files.has(id);
  patch(id, { phase: 'checking', pct: 0 });
  let info = null;
  try { info = await chunked.chunkInfo(); } catch (e) { if (!live()) return; }
  const max = info ? Math.max(MAX_UPLOAD, info.maxSize) : MAX_UPLOAD;
  const tooBig = () => Object.assign(new Error(), { text: t('up.tooBig', { name, max: fmtSize(max) }) });
  if (file.size > max) {
    const text = tooBig().text;
    patch(id, { retryable: false });
    finish(id, 'failed', text, text);
    record(t('tr.upload', { name, result: text }));
    return;
  }
  const inChunks = info && file.size > info.chunkSize;
  try {
    // Files /upload could take are hashed first for the instant upload;
    // bigger ones would keep the page busy for long, and go as they are.
    let md5 = '';
    let res = { code: '007' };
    if (file.size <= MAX_UPLOAD) {
      patch(id, { phase: 'hashing' });
      let last = 0;
      md5 = await window.YunMD5.ofBlob(file, (done, total) => {
        if (f.cancelled || !live()) throw new Cancelled();
        const now = performance.now();
        if (now - last > 100 || done === total) { last = now; patch(id, { pct: total ? (100 * done) / total : 100 }); }
      });
      if (f.cancelled) throw new Cancelled();
      res = await instant(file, md5);
      if (f.cancelled) throw new Cancelled();
      if (overQuota(res)) throw Object.assign(new Error(), { text: t('up.quota', { name }) });
    }
    let text;
    if (res.code === '005') text = t('up.exists', { name });
    else if (res.code === '006') text = t('up.instant', { name });
    else {
      const up = inChunks ? await sendChunks(id, f, md5) : await send(id, f, md5);
      if (up.code === '008') text = up.msg ? t('up.exists', { name }) : t('up.uploaded', { name });
      else if (overQuota(up)) throw Object.assign(new Error(), { text: t('up.quota', { name }) });
      else if (up.code === '413' || up.code === '087') throw tooBig();
      else throw Object.assign(new Error(), { text: t('up.failed', { name, why: why(up) }) });
    }
    if (!live()) return;
    finish(id, 'done', text);
    record(t('tr.upload', { name, result: t('tr.ok') }));
    loadMyFiles();
  } catch (e) {
    if (!live() || e.kind === 'expired') return;
    if (e.kind === 'cancelled' || f.cancelled) {
      const u = state.uploads.find((x) => x.id === id);
      if (u && u.sid) { chunked.abort(u.sid); patch(id, { sid: '' }); } // cancelled: the server drops its part too
      finish(id, 'cancelled', t('up.cancelled', { name }));
      return;
    }
    const text = e.text || t('up.failed', { name, why: humanError(e) });
    finish(id, 'failed', text, text);
    record(t('tr.upload', { name, result: text }));
  } finally {
    f.xhr = null;
  }
}

// overQuota: the server refused the file for the user's storage quota.
function overQuota(res) { return res.code === '009' && /^quota exceeded/.test(res.msg || ''); }

async function instant(file, md5) {
  const ask = { user: state.session.user, md5, fileName: file.name, size: file.size };
  const res = await call('/md5', ask);
  const ch = res.challenge;
  if (res.code !== '007' || !ch || !ch.nonce || !ch.ranges) return res;
  const proof = await window.YunMD5.rangeProof(file, ch.nonce, ch.ranges);
  return call('/md5', { ...ask, nonce: ch.nonce, proof });
}

// sendChunks uploads through /chunk (chunked.js), with the row's
// progress, speed and time left counted from where this run started.
function sendChunks(id, f, md5) {
  const start = performance.now();
  let from = -1;
  let last = 0;
  const size = f.file.size;
  const row = state.uploads.find((x) => x.id === id);
  patch(id, { phase: 'uploading', pct: 0 });
  return chunked.send(f.file, {
    cancelled: () => f.cancelled || !files.has(id),
    setXhr: (xhr) => { f.xhr = xhr; },
    session: (sid) => patch(id, { sid }),
    resumed: (offset) => patch(id, { resumedFrom: offset }),
    waiting: (on) => patch(id, { phase: on ? 'waiting' : 'uploading', speed: 0, eta: 0 }),
    progress: (done) => {
      if (from < 0) from = done;
      const now = performance.now();
      if (now - last < 100 && done < size) return;
      last = now;
      const secs = (now - start) / 1000;
      const speed = secs > 0.2 ? (done - from) / secs : 0;
      patch(id, { pct: size ? (100 * done) / size : 100, speed, eta: speed ? (size - done) / speed : 0 });
    },
  }, md5, row && row.sid);
}

// send posts the file as multipart/form-data with XMLHttpRequest (fetch
// reports no upload progress); the token cookie goes with it.
function send(id, f, md5) {
  return new Promise((resolve, reject) => {
    const file = f.file;
    const fd = new FormData();
    fd.append('user', state.session.user);
    fd.append('md5', md5);
    fd.append('size', String(file.size));
    fd.append('file', file, file.name);
    const xhr = new XMLHttpRequest();
    f.xhr = xhr;
    xhr.open('POST', '/upload');
    // A big file on a slow line takes long, so the deadline is on silence:
    // no byte sent (or no answer once all are) for STALL ms ends it.
    const start = performance.now();
    let last = 0;
    let heard = start;
    let stalled = false;
    const watch = setInterval(() => {
      if (performance.now() - heard > STALL) { stalled = true; xhr.abort(); }
    }, 1000);
    const done = () => clearInterval(watch);
    patch(id, { phase: 'uploading', pct: 0 });
    xhr.upload.onprogress = (e) => {
      heard = performance.now();
      if (!e.lengthComputable) return;
      const now = performance.now();
      if (now - last < 100 && e.loaded < e.total) return;
      last = now;
      const secs = (now - start) / 1000;
      const speed = secs > 0.2 ? e.loaded / secs : 0;
      patch(id, { pct: (100 * e.loaded) / e.total, speed, eta: speed ? (e.total - e.loaded) / speed : 0 });
    };
    xhr.onload = () => {
      done();
      try { resolve(check(parse(xhr.status, xhr.responseText))); } catch (e) { reject(e); }
    };
    xhr.onerror = () => { done(); reject(new ApiError('offline')); };
    xhr.onabort = () => { done(); reject(stalled ? new ApiError('timeout') : new Cancelled()); };
    xhr.send(fd);
  });
}
