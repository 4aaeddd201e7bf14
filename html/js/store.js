// The one state store: every view renders from `state`; `set` replaces it
// and re-renders. Data that belongs to a session (lists, uploads, the
// transfer log) lives only here, so that signing out clears all of it.
import { useEffect, useState } from './lib.js';

const listeners = new Set();

// epoch changes whenever the session ends: answers to requests sent before
// that are dropped (a stale list must never show to the next user).
export let epoch = 0;

export let state = {
  booting: true,     // checking the session cookie
  session: null,     // { user } once signed in
  route: { tab: 'files', page: 1, sort: 'name', folder: 0, q: '' },
  lang: 'en',
  loginMsg: null,    // { text, kind } on the login page
  prefill: null,     // { user, pwd } after registering
  ...sessionData(),
};

// sessionData is the part of the state that a sign-out throws away.
export function sessionData() {
  return {
    lists: {},       // key → { loading, data, error }
    uploads: [],     // the upload queue (upload.js)
    uploadMsg: '',   // the last upload message, for the live region
    transfers: [],   // the transfer log of the signed-in user
    notice: null,    // { text, kind } for the current tab
    lastDownload: null, // { url, name, md5 }
    linkDialog: null,   // { file } while the share-link dialog is open (links.js)
    preview: null,      // { item } while the preview dialog is open (preview.js)
  };
}

export function set(patch) {
  state = { ...state, ...(typeof patch === 'function' ? patch(state) : patch) };
  listeners.forEach((f) => f());
}

export function newEpoch() { epoch++; }

// useStore re-renders the calling component on every change.
export function useStore() {
  const [, bump] = useState(0);
  useEffect(() => {
    const f = () => bump((n) => n + 1);
    listeners.add(f);
    f(); // a change made before this effect ran
    return () => listeners.delete(f);
  }, []);
  return state;
}
