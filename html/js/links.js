// Share links (docs/api.md §1.14): the owner's calls (create, the "My
// links" list, revoke) and the landing page's (info, open, browse). The
// download itself is a plain GET of /link?cmd=download with the grant open
// gave (and the file's id, for a folder link).
import { call } from './api.js';
import { load, PAGE } from './data.js';
import { set, state } from './store.js';

// linkURL is the address to hand out: the landing page of this web client.
export function linkURL(token) {
  return location.href.split('#')[0] + '#/s/' + token;
}

// openLinkDialog opens the dialog for entry f: a file, or a folder
// (f.kind === 'folder').
export function openLinkDialog(f) { set({ linkDialog: { file: f } }); }
export function closeLinkDialog() { set({ linkDialog: null }); }

function userBody(extra) {
  return { user: state.session ? state.session.user : '', ...extra };
}

// createLink asks for a link to entry id of kind 'file' or 'folder'; code
// is '' (none), 'auto' or four of a-z 0-9; days 0 (never), 1, 7 or 30.
// Resolves to the answer.
export function createLink(kind, id, code, days) {
  return call('/link?cmd=create', userBody({ kind, id, code, expires_in_days: days }));
}

export function loadLinks() {
  const pageNo = state.route.page;
  return load('links', async () => {
    const get = (p) => call('/link?cmd=list', userBody({ start: (p - 1) * PAGE, count: PAGE }));
    let res = await get(pageNo);
    if (res.code !== '062') throw Object.assign(new Error(res.code), { kind: 'server' });
    const total = Number(res.total) || 0;
    const pages = Math.max(1, Math.ceil(total / PAGE));
    if (pageNo > pages) {
      res = await get(pages); // the last page went away (revoked links stay, but just in case)
      if (res.code !== '062') throw Object.assign(new Error(res.code), { kind: 'server' });
    }
    return { total, pages, page: Math.min(pageNo, pages), files: res.links || [] };
  });
}

export function revokeLink(id) {
  return call('/link?cmd=revoke', userBody({ id }));
}

export function linkInfo(token) {
  return call('/link?cmd=info', { t: token });
}

export function openLink(token, code) {
  return call('/link?cmd=open', { t: token, code });
}

// browseLink asks for a page of a folder link's folder (0: the shared
// folder itself) with the grant open gave.
export function browseLink(token, grant, folderId, start, count) {
  return call('/link?cmd=browse', { t: token, g: grant, folder_id: folderId, start, count });
}

// linkFileURL is the download address of file id of a folder link.
export function linkFileURL(token, grant, id) {
  return '/link?cmd=download&t=' + encodeURIComponent(token) + '&g=' + encodeURIComponent(grant) + '&id=' + encodeURIComponent(id);
}
