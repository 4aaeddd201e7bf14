// Signing in and out. The token is only in the server's HttpOnly cookie;
// the page knows the user name (the server's "user" cookie) and whether
// the cookie still works (a cheap token-checked call at start).
import { ApiError, call, humanError, whenExpired } from './api.js';
import { t } from './i18n.js';
import { newEpoch, sessionData, set, state } from './store.js';
import { cancelAll, loadUnfinished } from './upload.js';
import { loadTransfers } from './data.js';

function cookieUser() {
  const m = /(?:^|;\s*)user=([^;]*)/.exec(document.cookie);
  if (!m) return '';
  try { return decodeURIComponent(m[1].replace(/^"|"$/g, '')); } catch (e) { return ''; }
}

// boot restores a session the cookie still carries.
export async function boot() {
  whenExpired(() => signOut({ text: t('err.expired'), kind: 'err' }));
  const user = cookieUser();
  if (!user) return set({ booting: false });
  try {
    const res = await call('/myfiles?cmd=count', {});
    if (res.code === '110') return signedIn(user);
    set({ booting: false });
  } catch (e) {
    set({ booting: false, loginMsg: e.kind === 'expired' ? null : { text: humanError(e), kind: 'err' } });
  }
}

export async function logIn(user, pwdMD5) {
  const res = await call('/login', { user, pwd: pwdMD5 });
  if (res.code === '000' && res.token) {
    signedIn(user);
    return null;
  }
  if (res.code === '027') return t('login.locked', { s: res.retry_after || 1 });
  if (res.code === '001') return t('login.wrong');
  throw new ApiError('server', res.code);
}

function signedIn(user) {
  newEpoch(); // nothing from before may land in this session
  set({ ...sessionData(), booting: false, session: { user }, loginMsg: null, prefill: null });
  loadTransfers(user);
  loadUnfinished();
}

// signOut ends the session in the page: every list, the upload queue and
// the log go, answers still under way are dropped. The URL keeps the page
// the user was on, so logging in again comes back to it.
export function signOut(msg) {
  newEpoch();
  cancelAll();
  set({ ...sessionData(), session: null, booting: false, loginMsg: msg || null });
}

export async function logOut() {
  try {
    await call('/logout', { user: state.session && state.session.user });
  } catch (e) {
    // The local sign-out is what matters; the cookie expires anyway.
  }
  signOut(null);
}
