// The gallery's list (docs/api.md §1.16): POST /image?cmd=gallery, a page
// of the user's images, newest first, with their /image addresses.
import { call } from './api.js';
import { load } from './data.js';
import { state } from './store.js';

export const GALLERY_PAGE = 24; // images per page (the server allows 100)

export function loadGallery() {
  const pageNo = state.route.page;
  return load('gallery', async () => {
    const get = (p) => call('/image?cmd=gallery', { user: state.session ? state.session.user : '', start: (p - 1) * GALLERY_PAGE, count: GALLERY_PAGE });
    let res = await get(pageNo);
    if (res.code !== '093') throw Object.assign(new Error(res.code), { kind: 'server' });
    const total = Number(res.total) || 0;
    const pages = Math.max(1, Math.ceil(total / GALLERY_PAGE));
    if (pageNo > pages) {
      res = await get(pages); // the page went away (images deleted meanwhile)
      if (res.code !== '093') throw Object.assign(new Error(res.code), { kind: 'server' });
    }
    return { total, pages, page: Math.min(pageNo, pages), files: res.files || [] };
  });
}
