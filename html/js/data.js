// Lists and the actions on their rows. Each list has a request counter:
// only the answer to its latest request is shown, and none from an
// earlier session (store.epoch).
import { call, humanError, why } from './api.js';
import { t } from './i18n.js';
import { epoch, set, state } from './store.js';

export const PAGE = 10; // rows per page, as the course's client

const seq = {};

function setList(key, patch) {
  set((s) => ({ lists: { ...s.lists, [key]: { ...(s.lists[key] || {}), ...patch } } }));
}

// load fetches a list; a newer load of the same key, or a sign-out,
// makes this one's answer stale.
export async function load(key, fetcher) {
  const n = (seq[key] = (seq[key] || 0) + 1);
  const ep = epoch;
  setList(key, { loading: true, error: null });
  try {
    const data = await fetcher();
    if (n !== seq[key] || ep !== epoch) return;
    setList(key, { loading: false, data, error: null });
  } catch (e) {
    if (n !== seq[key] || ep !== epoch || e.kind === 'expired') return;
    setList(key, { loading: false, error: humanError(e) });
  }
}

export function fname(f) {
  return f.filename !== undefined ? f.filename : f.file_name !== undefined ? f.file_name : f.fileName || '';
}
export function ftime(f) { return f.time || f.create_time || ''; }
export function fkey(f) { return f.md5 + '/' + fname(f) + '/' + (f.user || ''); }

function userBody(extra) {
  return { user: state.session ? state.session.user : '', ...extra };
}

async function page(path, countPath, pageNo, body) {
  const c = await call(countPath, body);
  const total = Number(c.num !== undefined ? c.num : c.count) || 0;
  const pages = Math.max(1, Math.ceil(total / PAGE));
  const p = Math.min(pageNo, pages);
  const res = await call(path, { ...body, start: (p - 1) * PAGE, count: PAGE });
  if (res.code !== '000' && res.code !== '015') throw Object.assign(new Error(res.code), { kind: 'server' });
  return { total, pages, page: p, files: res.files || [] };
}

// ---- my files: a folder's page, or a search (docs/api.md §1.12) ----

// refusal turns an answer that is not okCode into an error the list
// shows: a folder that is gone says so, anything else in the server's words.
function refusal(res) {
  if (res.code === '055') return Object.assign(new Error(res.code), { kind: 'nofolder' });
  return Object.assign(new Error(res.code), { kind: 'server' });
}

// paths caches folder id → its crumbs from the root (the root left out,
// the folder itself last), or null for a folder that is not live. A move,
// rename or delete of folders clears it (forgetPaths).
// The cache belongs to a session: a sign-out (a new epoch) empties it.
let paths = new Map();
let pathsEpoch = epoch;
export function forgetPaths() { paths = new Map(); pathsEpoch = epoch; }

function cachedPaths() {
  if (pathsEpoch !== epoch) forgetPaths();
  return paths;
}

export async function folderPath(id) {
  if (!id) return [];
  if (cachedPaths().has(id)) return paths.get(id);
  const ep = epoch;
  const res = await call('/files?cmd=info', userBody({ item: { kind: 'folder', id } }));
  const p = res.code === '045' && res.item
    ? [...(res.path || []).slice(1), { id, name: res.item.name }]
    : res.code === '055' ? null : undefined;
  if (p !== undefined && ep === epoch) cachedPaths().set(id, p);
  return p === undefined ? null : p;
}

// sortParams turns a route sort ("size-desc") into the API's sort and order.
export function sortParams(sort) {
  const [by, dir] = (sort || 'name').split('-');
  return { sort: by, order: dir === 'desc' ? 'desc' : 'asc' };
}

async function folderPage(r) {
  const ep = epoch;
  const res = await call('/files?cmd=list', userBody({
    folder_id: r.folder, ...sortParams(r.sort), start: (r.page - 1) * PAGE, count: PAGE,
  }));
  if (res.code !== '030') throw refusal(res);
  const path = (res.path || []).map((c) => ({ id: Number(c.id), name: c.name }));
  if (ep === epoch) cachedPaths().set(r.folder, r.folder ? path.slice(1) : []);
  return {
    folder: r.folder, page: r.page, more: !!res.more, folderCount: Number(res.folder_count) || 0,
    path, files: res.items || [],
  };
}

// searchPage asks one entry more than a page to know whether another
// follows, and finds each result's folder path.
async function searchPage(r) {
  const res = await call('/files?cmd=search', userBody({ q: r.q, start: (r.page - 1) * PAGE, count: PAGE + 1 }));
  if (res.code !== '041') throw refusal(res);
  const items = (res.items || []).slice(0, PAGE);
  const ids = [...new Set(items.map((e) => Number(e.folder_id) || 0))];
  const found = await Promise.all(ids.map((id) => folderPath(id)));
  const byId = new Map(ids.map((id, i) => [id, found[i]]));
  return {
    search: r.q, page: r.page, more: (res.items || []).length > PAGE, folderCount: 0, path: [],
    files: items.map((e) => ({ ...e, place: byId.get(Number(e.folder_id) || 0) })),
  };
}

// loadMyFiles shows the route's folder page (or search) and refreshes the
// usage, which every change of the files may have moved.
export function loadMyFiles() {
  const r = state.route;
  loadUsage();
  return load('files', () => (r.q ? searchPage(r) : folderPage(r)));
}

export function loadUsage() {
  return load('usage', async () => {
    const res = await call('/files?cmd=usage', userBody({}));
    if (res.code !== '043') throw refusal(res);
    return { used: Number(res.used) || 0, quota: Number(res.quota) || 0, trash: Number(res.trash) || 0, files: [] };
  });
}

export function loadShared() {
  const r = state.route;
  return load('share', () => page('/sharefiles?cmd=normal', '/sharefiles?cmd=count', r.page, {}));
}

export function loadRanking() {
  return load('rank', async () => {
    const res = await call('/sharefiles?cmd=pvdesc', { start: 0, count: 50 });
    return { files: res.files || [] };
  });
}

export function notice(text, kind) { set({ notice: { text, kind, at: Date.now() } }); }

// ---- the transfer log (per user, in localStorage: no secret in it) ----

function logKey(user) { return 'yunpan.log.' + user; }

export function loadTransfers(user) {
  let list = [];
  try { list = JSON.parse(localStorage.getItem(logKey(user)) || '[]'); } catch (e) { list = []; }
  set({ transfers: Array.isArray(list) ? list.filter((x) => typeof x === 'string') : [] });
}

export function record(text) {
  if (!state.session) return;
  const line = new Date().toLocaleTimeString(state.lang) + '  ' + text;
  const list = [line, ...state.transfers].slice(0, 200);
  set({ transfers: list });
  try { localStorage.setItem(logKey(state.session.user), JSON.stringify(list)); } catch (e) { /* quota */ }
}

export function clearTransfers() {
  set({ transfers: [] });
  try { localStorage.removeItem(logKey(state.session.user)); } catch (e) { /* storage off */ }
}

// ---- row actions: each resolves to a message and refreshes its list ----

export async function act(fn) {
  const ep = epoch;
  try {
    await fn();
  } catch (e) {
    if (ep === epoch && e.kind !== 'expired') notice(humanError(e), 'err');
  }
}

export function shareFile(f) {
  const name = fname(f);
  return act(async () => {
    const res = await call('/dealfile?cmd=share', userBody({ md5: f.md5, filename: name }));
    const m = { '010': ['msg.shared', 'ok'], '012': ['msg.alreadyShared', 'err'] }[res.code] || ['msg.shareFailed', 'err'];
    notice(t(m[0], { name }), m[1]);
    await loadMyFiles();
  });
}

// deleteFile moves one entry (file or folder) to the trash.
export function deleteFile(f) {
  const name = fname(f);
  return act(async () => {
    const res = await call('/files?cmd=delete', userBody({ items: [{ kind: f.kind || 'file', id: f.id }] }));
    const ok = res.code === '039';
    notice(ok ? t('msg.deleted', { name }) : t('msg.deleteFailed', { name }) + ' ' + why(res), ok ? 'ok' : 'err');
    record(t('tr.delete', { name, result: ok ? t('tr.ok') : why(res) }));
    if (f.kind === 'folder') forgetPaths();
    await loadMyFiles();
  });
}

export function dealShare(cmd, f) {
  const name = fname(f);
  return act(async () => {
    const res = await call('/dealsharefile?cmd=' + cmd, userBody({ md5: f.md5, filename: name, owner: f.user }));
    const m = {
      '018': ['msg.unshared', 'ok'], '019': ['msg.unshareFailed', 'err'],
      '020': ['msg.saved', 'ok'], '021': ['msg.alreadySaved', 'err'], '022': ['msg.saveFailed', 'err'],
    }[res.code] || [cmd === 'save' ? 'msg.saveFailed' : 'msg.unshareFailed', 'err'];
    notice(t(m[0], { name }), m[1]);
    await loadShared();
  });
}

// download asks /download for the file's signed URL, lets the browser
// follow it (an attachment), then counts the download (pv).
export function download(f, from) {
  const name = fname(f);
  return act(async () => {
    notice(t('msg.downloading', { name }), '');
    const body = userBody({ md5: f.md5, filename: name });
    if (from === 'share') body.owner = f.user;
    const res = await call('/download', body);
    if (res.code !== '025' || !res.url) {
      notice(t('msg.downloadFailed', { name, why: why(res) }), 'err');
      record(t('tr.download', { name, result: why(res) }));
      return;
    }
    const url = res.url + (res.url.indexOf('?') < 0 ? '?' : '&') + 'attachment=' + encodeURIComponent(name);
    set({ lastDownload: { url, name, md5: f.md5 } });
    const a = document.getElementById('download-link');
    if (a) { a.href = url; a.click(); }
    await call(from === 'share' ? '/dealsharefile?cmd=pv' : '/dealfile?cmd=pv', userBody({ md5: f.md5, filename: name }));
    record(t('tr.download', { name, result: t('tr.ok') }));
    notice('', '');
    await (from === 'share' ? loadShared() : loadMyFiles());
  });
}
