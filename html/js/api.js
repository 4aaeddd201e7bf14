// Calls to the cloud-disk API (docs/api.md §1): every call is a POST of a
// JSON body and the answer's code is read from the body whatever the HTTP
// status. The token never passes through here: the server's HttpOnly
// cookie carries it. Failures become an ApiError with a kind the page can
// put into words (humanError).
import { t } from './i18n.js';

const TIMEOUT = 30000; // ms; every call has a deadline

export class ApiError extends Error {
  // kind: offline | busy | timeout | server | expired
  constructor(kind, detail) {
    super(kind + (detail ? ': ' + detail : ''));
    this.kind = kind;
    this.detail = detail || '';
  }
}

// Raised by an upload the user cancelled.
export class Cancelled extends Error {
  constructor() { super('cancelled'); this.kind = 'cancelled'; }
}

let onExpired = () => {};
// whenExpired sets what a 111 answer (token missing or invalid) does.
export function whenExpired(f) { onExpired = f; }

// parse turns an answer into {code, ...}: the body's JSON, or the HTTP
// status as the code when the body is no JSON (a proxy's error page).
export function parse(status, text) {
  let data;
  try { data = JSON.parse(text); } catch (e) { data = null; }
  if (typeof data === 'number') data = { code: '000', num: data };
  if (data === null || typeof data !== 'object' || Array.isArray(data)) data = { code: String(status) };
  if (data.code === undefined) data.code = status === 200 ? '000' : String(status);
  data.code = String(data.code);
  data.httpStatus = status;
  return data;
}

// check raises the failures that are not the endpoint's own answer.
export function check(data) {
  if (data.code === '111') {
    onExpired();
    throw new ApiError('expired');
  }
  if (['502', '503', '504'].includes(data.code) || (data.httpStatus === 429 && data.code !== '027' && data.code !== '070')) throw new ApiError('busy');
  if (data.code === '500') throw new ApiError('server');
  return data;
}

export async function call(path, body) {
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TIMEOUT);
  try {
    let r, text;
    try {
      r = await fetch(path, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body || {}),
        credentials: 'same-origin',
        signal: ctl.signal,
      });
      text = await r.text();
    } catch (e) {
      throw new ApiError(ctl.signal.aborted ? 'timeout' : 'offline');
    }
    return check(parse(r.status, text));
  } finally {
    clearTimeout(timer);
  }
}

// humanError puts any failure into words for the user.
export function humanError(e) {
  if (e && e.kind && e.kind !== 'cancelled') return t('err.' + e.kind);
  return t('err.unknown');
}

// why is the server's own words for a refusal, else its code.
export function why(res) {
  return res.msg ? res.msg : t('err.code', { code: res.code });
}
