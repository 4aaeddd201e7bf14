// The upload picker (a real file input, visually hidden but focusable,
// under a label that looks like a button) and the queue.
import { html, useEffect, useRef } from '../lib.js';
import { fmtDuration, fmtSize, t } from '../i18n.js';
import { addFiles, cancel, clearFinished, discard, remove, resumeWith, retry } from '../upload.js';

export function Picker() {
  const onChange = (e) => {
    const input = e.currentTarget;
    addFiles(Array.from(input.files || []));
    input.value = ''; // the same file again is a new choice
  };
  return html`<div class="picker">
    <input id="upload-file" type="file" multiple class="vh-input" onChange=${onChange} aria-describedby="upload-hint" />
    <label id="upload-btn" for="upload-file" class="button">${t('up.choose')}</label>
    <span id="upload-hint" class="hint">${t('up.hint')}</span>
  </div>`;
}

const ACTIVE = ['queued', 'checking', 'hashing', 'uploading', 'waiting'];

// removeItem takes a file off the list and gives the focus to the next
// one (or the picker).
function removeItem(e, id, drop) {
  const li = e.currentTarget.closest('li');
  const next = li && (li.nextElementSibling || li.previousElementSibling);
  (drop || remove)(id);
  setTimeout(() => {
    const b = next && next.isConnected ? next.querySelector('button') : null;
    (b || document.getElementById('upload-file')).focus();
  }, 0);
}

function Item({ u }) {
  const active = ACTIVE.includes(u.phase);
  // Cancel becomes Retry, Retry becomes Cancel: the focus moves with the
  // change instead of dropping to the page.
  const li = useRef(null);
  const held = useRef(false);
  const onFocusIn = () => { held.current = true; };
  const onFocusOut = (e) => { if (e.relatedTarget) held.current = li.current.contains(e.relatedTarget); };
  useEffect(() => {
    const a = document.activeElement;
    if (held.current && li.current && (!a || a === document.body)) {
      const b = li.current.querySelector('button');
      if (b) b.focus();
    }
  }, [u.phase]);
  const pct = Math.round(u.pct || 0);
  const rate = u.phase === 'uploading' && u.speed
    ? t('up.speed', { speed: fmtSize(u.speed) }) + ' · ' + t('up.left', { time: fmtDuration(u.eta) })
    : '';
  const paused = u.phase === 'paused';
  // A paused row is an unfinished upload of an earlier visit: the user
  // picks its file again (the browser cannot reopen it by itself).
  const onPick = (e) => {
    const input = e.currentTarget;
    resumeWith(u.id, (input.files || [])[0]);
    input.value = '';
  };
  return html`<li ref=${li} class=${'upload-item phase-' + u.phase} data-name=${u.name} data-phase=${u.phase}
    data-resumed=${u.resumedFrom ? String(u.resumedFrom) : null}
    onFocusIn=${onFocusIn} onFocusOut=${onFocusOut}>
    <div class="up-head">
      <span class="up-name">${u.name}</span>
      <span class="up-size">${fmtSize(u.size)}</span>
    </div>
    <div class="up-line">
      <progress class="up-bar" max="100" value=${pct} aria-label=${t('up.progressOf', { name: u.name })}></progress>
      <span class="up-phase">${t('up.phase.' + u.phase)}${active && u.phase !== 'queued' ? ' ' + pct + '%' : ''}</span>
      <span class="up-rate">${rate}</span>
    </div>
    ${paused ? html`<p class="up-note" id=${'resume-hint-' + u.id}>${t('up.pickAgain', { name: u.name, done: fmtSize((u.size * (u.pct || 0)) / 100) })}</p>` : null}
    ${u.error ? html`<p class="up-error">${u.error}</p>` : null}
    <div class="up-acts">
      ${paused ? html`<input id=${'resume-' + u.id} type="file" class="vh-input up-resume-input" onChange=${onPick}
        aria-describedby=${'resume-hint-' + u.id} aria-label=${t('up.resumeOf', { name: u.name })} />
        <label for=${'resume-' + u.id} class="button up-resume">${t('up.resume')}</label>
        <button type="button" class="up-discard light" aria-label=${t('up.discardOf', { name: u.name })}
          onClick=${(e) => removeItem(e, u.id, discard)}>${t('up.discard')}</button>` : null}
      ${active ? html`<button type="button" class="up-cancel light" aria-label=${t('up.cancelOf', { name: u.name })}
        onClick=${() => cancel(u.id)}>${t('up.cancel')}</button>` : null}
      ${(u.phase === 'failed' || u.phase === 'cancelled') && u.retryable !== false
        ? html`<button type="button" class="up-retry" aria-label=${t('up.retryOf', { name: u.name })}
          onClick=${() => retry(u.id)}>${t('up.retry')}</button>` : null}
      ${!active && !paused ? html`<button type="button" class="up-remove light" aria-label=${t('up.removeOf', { name: u.name })}
        onClick=${(e) => removeItem(e, u.id)}>${t('up.remove')}</button>` : null}
    </div>
  </li>`;
}

export function Queue({ s }) {
  return html`<section class="upload-queue" aria-labelledby="upq-h" hidden=${!s.uploads.length}>
    <div class="toolbar">
      <h2 id="upq-h">${t('up.queue')}</h2>
      <button id="upload-clear" type="button" class="light" onClick=${clearFinished}
        disabled=${!s.uploads.some((u) => u.phase === 'done')}>${t('up.clear')}</button>
    </div>
    <ul id="upload-queue">${s.uploads.map((u) => html`<${Item} key=${u.id} u=${u} />`)}</ul>
  </section>`;
}
