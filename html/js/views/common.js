// Pieces the list views share: messages, loading/empty/error states, the
// pager, row actions (a menu on narrow screens) and keeping focus on the
// row acted on.
import { html, useEffect, useRef, useState } from '../lib.js';
import { t } from '../i18n.js';

export function Msg({ id, msg }) {
  const m = msg || {};
  return html`<p id=${id} class=${'msg' + (m.kind ? ' ' + m.kind : '')} role="status" aria-live="polite">${m.text || ''}</p>`;
}

// ListState shows what a list has instead of rows: loading, an error with
// a retry button, or the empty state. It returns null when rows show.
export function ListState({ list, emptyId, emptyText, reload }) {
  if (list.error) {
    return html`<div class="state err" role="alert"><p>${list.error}</p>
      <button type="button" class="light retry-load" onClick=${reload}>${t('refresh')}</button></div>`;
  }
  if (!list.data) return html`<p class="state loading" role="status">${t('loading')}</p>`;
  if (!list.data.files.length) return html`<p id=${emptyId} class="state empty">${emptyText}</p>`;
  return null;
}

export function Pager({ prefix, data, onPage }) {
  if (!data || data.pages <= 1) return null;
  return html`<nav class="pager" aria-label=${t('pager.info', { page: data.page, pages: data.pages })}>
    <button id=${prefix + '-prev'} type="button" class="light" disabled=${data.page <= 1}
      onClick=${() => onPage(data.page - 1)}>‹ <span>${t('pager.prev')}</span></button>
    <span id=${prefix + '-info'} aria-live="polite">${t('pager.info', { page: data.page, pages: data.pages })}</span>
    <button id=${prefix + '-next'} type="button" class="light" disabled=${data.page >= data.pages}
      onClick=${() => onPage(data.page + 1)}><span>${t('pager.next')}</span> ›</button>
  </nav>`;
}

// RowActions: the buttons of a row, inline on wide screens; on narrow ones
// behind a menu button (the CSS hides .acts until it opens).
export function RowActions({ name, children }) {
  const [open, setOpen] = useState(false);
  const wrap = useRef(null);
  // A press anywhere else closes the menu.
  useEffect(() => {
    if (!open) return undefined;
    const away = (e) => { if (wrap.current && !wrap.current.contains(e.target)) setOpen(false); };
    document.addEventListener('pointerdown', away);
    return () => document.removeEventListener('pointerdown', away);
  }, [open]);
  const onKey = (e) => {
    if (e.key === 'Escape' && open) {
      setOpen(false);
      const b = e.currentTarget.parentNode.querySelector('.menu-btn');
      if (b) b.focus();
    }
  };
  // Choosing an action closes the menu, so that it does not lie over the
  // rows below; the first press of a two-press button (data-keep-open)
  // leaves it open for the second.
  const onPick = (e) => {
    const b = e.target.closest('button');
    if (open && b && !b.dataset.keepOpen) setOpen(false);
  };
  return html`<div class="acts-wrap" ref=${wrap} onKeyDown=${onKey}>
    <button type="button" class="menu-btn light" aria-expanded=${open ? 'true' : 'false'}
      aria-label=${t('act.menu', { name })} onClick=${() => setOpen(!open)}>⋯</button>
    <div class=${'acts' + (open ? ' open' : '')} onClick=${onPick}>${children}</div>
  </div>`;
}

// keepFocus, run after an action on the row with key, puts the focus back
// on that row once the list has re-rendered: on the same control if it is
// still there and enabled, else on the row's first enabled button; if the
// row went away, on the row that took its place, else on the list heading.
export function keepFocus(container, key, nextKey) {
  setTimeout(() => {
    const root = document.getElementById(container);
    if (!root) return;
    const active = document.activeElement;
    if (active && root.contains(active) && !active.disabled && active !== document.body) return;
    const row = root.querySelector(`[data-key="${CSS.escape(key)}"]`) ||
      (nextKey && root.querySelector(`[data-key="${CSS.escape(nextKey)}"]`));
    // The first control one can see: on a narrow screen a closed menu
    // hides the buttons, and its menu button takes the focus.
    const target = row ? Array.from(row.querySelectorAll('.acts button:not(:disabled), .menu-btn'))
      .find((b) => b.offsetParent !== null) : null;
    if (target) { target.focus(); return; }
    const h = root.querySelector('h2');
    if (h) h.focus();
  }, 0);
}

// nextKey is the key of the row after (else before) the one with key.
export function nextKeyOf(files, keyOf, key) {
  const i = files.findIndex((f) => keyOf(f) === key);
  if (i < 0) return '';
  const n = files[i + 1] || files[i - 1];
  return n ? keyOf(n) : '';
}

// useRowAction runs a row's actions one at a time: while one is under way
// the row is busy (its buttons say so with aria-disabled, which keeps the
// focus where disabled would drop it) and presses are ignored; afterwards
// the focus goes back to the row (keepFocus).
export function useRowAction(container, key, nextKey) {
  const [busy, setBusy] = useState(false);
  const run = (fn) => {
    if (busy) return;
    setBusy(true);
    const next = nextKey();
    fn().finally(() => {
      setBusy(false);
      keepFocus(container, key, next);
    });
  };
  return [busy, run];
}
