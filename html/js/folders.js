// Folders and the trash (docs/api.md §1.12, §1.13): the actions on my
// files' entries (new folder, rename, move, delete to the trash) and the
// trash's list and actions. Entries are named by {kind, id}; the calls
// that take several take them all or none.
import { call, why } from './api.js';
import { t } from './i18n.js';
import { state } from './store.js';
import { act, folderPath, forgetPaths, load, loadMyFiles, loadUsage, notice, PAGE, record } from './data.js';

function userBody(extra) {
  return { user: state.session ? state.session.user : '', ...extra };
}

// ref is the API's name of an entry.
export function ref(e) { return { kind: e.kind, id: Number(e.id) }; }
// ekey is an entry's key in lists and selections.
export function ekey(e) { return e.kind + '/' + e.id; }

// refused puts a refusal into words: a name taken in our own words, the
// rest in the server's (in English; the Chinese table has its own words
// for a folder moved into itself).
function refused(res, name) {
  if (res.code === '034') return t('msg.nameTaken', { name });
  if (res.code === '056') return t('msg.intoItself', { msg: why(res) });
  return why(res);
}

// placeName is a folder path as "My files / a / b".
export function placeName(crumbs) {
  if (!crumbs) return t('place.gone');
  return [t('nav.files'), ...crumbs.map((c) => c.name)].join(' / ');
}

// mkdir makes a folder in the current one: null on success, else the
// reason (the form stays open with it).
export async function mkdir(name) {
  let err = null;
  await act(async () => {
    const res = await call('/files?cmd=mkdir', userBody({ folder_id: state.route.folder, name }));
    if (res.code !== '032') { err = refused(res, name); return; }
    notice(t('msg.mkdirDone', { name }), 'ok');
    await loadMyFiles();
  });
  return err;
}

export async function rename(e, name) {
  let err = null;
  await act(async () => {
    const res = await call('/files?cmd=rename', userBody({ item: ref(e), name }));
    if (res.code !== '035') { err = refused(res, name); return; }
    if (e.kind === 'folder') forgetPaths();
    notice(t('msg.renamed', { from: e.name || e.filename, name }), 'ok');
    await loadMyFiles();
  });
  return err;
}

// move puts entries into folder dest: null on success, else the reason,
// which the page says unless the caller does (quiet: the move dialog).
export async function move(entries, dest, quiet) {
  let err = null;
  await act(async () => {
    const res = await call('/files?cmd=move', userBody({ items: entries.map(ref), dest }));
    if (res.code !== '037') { err = refused(res, entries.length === 1 ? entries[0].name : ''); return; }
    forgetPaths();
    const place = placeName(await folderPath(dest));
    notice(entries.length === 1 ? t('msg.movedOne', { name: entries[0].name, place }) : t('msg.movedN', { n: entries.length, place }), 'ok');
    await loadMyFiles();
  });
  if (err && !quiet) notice(t('msg.moveFailed', { why: err }), 'err');
  return err;
}

// trash moves entries to the trash.
export async function trash(entries) {
  await act(async () => {
    const res = await call('/files?cmd=delete', userBody({ items: entries.map(ref) }));
    const ok = res.code === '039';
    notice(ok ? t('msg.trashedN', { n: entries.length }) : t('msg.deleteFailedN', { why: why(res) }), ok ? 'ok' : 'err');
    if (ok) entries.forEach((e) => record(t('tr.delete', { name: e.name, result: t('tr.ok') })));
    forgetPaths();
    await loadMyFiles();
  });
}

// ---- the trash ----

// loadTrash shows the route's page of the trash (one entry more than a
// page tells whether another follows), each with the folder it was in.
export function loadTrash() {
  const r = state.route;
  loadUsage();
  return load('trash', async () => {
    const res = await call('/trash?cmd=list', userBody({ start: (r.page - 1) * PAGE, count: PAGE + 1 }));
    if (res.code !== '047') throw Object.assign(new Error(res.code), { kind: 'server' });
    const items = (res.items || []).slice(0, PAGE);
    const ids = [...new Set(items.map((e) => Number(e.folder_id) || 0))];
    const found = await Promise.all(ids.map((id) => folderPath(id)));
    const byId = new Map(ids.map((id, i) => [id, found[i]]));
    return {
      page: r.page, more: (res.items || []).length > PAGE,
      files: items.map((e) => ({ ...e, place: byId.get(Number(e.folder_id) || 0) })),
    };
  });
}

// restore puts entries back and says where each went (the server picks
// the old folder, or the root when that is gone, and a free name).
export async function restore(entries) {
  await act(async () => {
    const res = await call('/trash?cmd=restore', userBody({ items: entries.map(ref) }));
    if (res.code !== '049') { notice(t('msg.restoreFailed', { why: why(res) }), 'err'); await loadTrash(); return; }
    forgetPaths();
    const done = res.restored || [];
    const places = await Promise.all(done.map((x) => folderPath(Number(x.folder_id) || 0)));
    const lines = done.map((x, i) => t('msg.restoredTo', { name: x.name, place: placeName(places[i]) }));
    notice(lines.join(' '), 'ok');
    await loadTrash();
  });
}

// purge deletes entries of the trash for good.
export async function purge(entries) {
  await act(async () => {
    const res = await call('/trash?cmd=delete', userBody({ items: entries.map(ref) }));
    const ok = res.code === '051';
    notice(ok ? t('msg.purged', { n: entries.length }) : t('msg.purgeFailed', { why: why(res) }), ok ? 'ok' : 'err');
    await loadTrash();
  });
}

export async function emptyTrash() {
  await act(async () => {
    const res = await call('/trash?cmd=empty', userBody({}));
    const ok = res.code === '053';
    notice(ok ? t('msg.emptied') : t('msg.purgeFailed', { why: why(res) }), ok ? 'ok' : 'err');
    await loadTrash();
  });
}

// expiresIn is the whole days left before a trashed entry goes (at least 0).
export function expiresIn(e) {
  const secs = Number(e.expire_time) - Date.now() / 1000;
  return Math.max(0, Math.ceil(secs / 86400));
}
