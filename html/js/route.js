// The URL keeps what the user looks at: #/<tab>?page=N&sort=S, or
// #/s/<token> for a share link's landing page. Moving between tabs and
// pages changes the hash (so back and forward work, and a reload comes
// back to the same place); the store follows the hash.
import { set } from './store.js';

export const TABS = ['files', 'gallery', 'share', 'rank', 'links', 'transfers'];
export const SORTS = ['normal', 'pvdesc', 'pvasc'];

export function parseRoute(hash) {
  // #/s/<token>: a share link's landing page (views/links.js).
  const link = /^#\/?s\/([A-Za-z0-9_-]{1,64})$/.exec(hash || '');
  if (link) return { tab: 's', token: link[1], page: 1, sort: 'normal' };
  const m = /^#\/?([\w-]*)(?:\?(.*))?$/.exec(hash || '') || [];
  const tab = m[1] === 'register' ? 'register' : TABS.includes(m[1]) ? m[1] : 'files';
  const q = new URLSearchParams(m[2] || '');
  const page = Math.max(1, parseInt(q.get('page'), 10) || 1);
  const sort = SORTS.includes(q.get('sort')) ? q.get('sort') : 'normal';
  return { tab, page, sort };
}

export function routeHash(r) {
  if (r.tab === 's') return '#/s/' + r.token;
  const q = new URLSearchParams();
  if (r.page > 1) q.set('page', String(r.page));
  if (r.tab === 'files' && r.sort !== 'normal') q.set('sort', r.sort);
  const s = q.toString();
  return '#/' + r.tab + (s ? '?' + s : '');
}

// go moves to a route (a new history entry).
export function go(r) {
  const h = routeHash(r);
  if (location.hash !== h) location.hash = h;
  else set({ route: parseRoute(h) });
}

export function watchRoute() {
  const sync = () => set({ route: parseRoute(location.hash) });
  window.addEventListener('hashchange', sync);
  sync();
}
