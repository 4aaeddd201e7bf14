// The URL keeps what the user looks at:
// #/<tab>?page=N&sort=S, and for my files also folder=<id> and q=<search>
// (a search looks in every folder; the folder is where it goes back to);
// #/s/<token> is a share link's landing page. Moving between tabs, folders
// and pages changes the hash (so back and forward work, and a reload comes
// back to the same place); the store follows the hash.
import { set } from './store.js';

export const TABS = ['files', 'gallery', 'share', 'rank', 'links', 'transfers', 'trash', 'dav'];
// Folder sorts: the column, "-desc" for the reverse (folders come first).
export const SORTS = ['name', 'name-desc', 'time', 'time-desc', 'size', 'size-desc'];

export function parseRoute(hash) {
  // #/s/<token>: a share link's landing page (views/links.js).
  const link = /^#\/?s\/([A-Za-z0-9_-]{1,64})$/.exec(hash || '');
  if (link) return { tab: 's', token: link[1], page: 1, sort: 'name', folder: 0, q: '' };
  const m = /^#\/?([\w-]*)(?:\?(.*))?$/.exec(hash || '') || [];
  const tab = m[1] === 'register' ? 'register' : TABS.includes(m[1]) ? m[1] : 'files';
  const q = new URLSearchParams(m[2] || '');
  const page = Math.max(1, parseInt(q.get('page'), 10) || 1);
  const sort = SORTS.includes(q.get('sort')) ? q.get('sort') : 'name';
  const folder = Math.max(0, parseInt(q.get('folder'), 10) || 0);
  const search = (q.get('q') || '').slice(0, 255);
  return { tab, page, sort, folder, q: search };
}

export function routeHash(r) {
  if (r.tab === 's') return '#/s/' + r.token;
  const q = new URLSearchParams();
  if (r.tab === 'files' && r.folder > 0) q.set('folder', String(r.folder));
  if (r.tab === 'files' && r.q) q.set('q', r.q);
  if (r.page > 1) q.set('page', String(r.page));
  if (r.tab === 'files' && r.sort && r.sort !== 'name') q.set('sort', r.sort);
  const s = q.toString();
  return '#/' + r.tab + (s ? '?' + s : '');
}

// go moves to a route (a new history entry).
export function go(r) {
  const h = routeHash(r);
  if (location.hash !== h) location.hash = h;
  else set({ route: parseRoute(h) });
}

// folderHash is the address of a folder of my files (0: the root).
export function folderHash(id, sort) {
  return routeHash({ tab: 'files', folder: id, page: 1, sort: sort || 'name', q: '' });
}

export function watchRoute() {
  const sync = () => set({ route: parseRoute(location.hash) });
  window.addEventListener('hashchange', sync);
  sync();
}
