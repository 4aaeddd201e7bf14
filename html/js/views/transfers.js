// The transfer log of the signed-in user.
import { html } from '../lib.js';
import { t } from '../i18n.js';
import { clearTransfers } from '../data.js';

export function TransfersView({ s }) {
  return html`<div id="tab-transfer" class="card tabpane">
    <h2 id="transfer-h" class="vh" tabindex="-1">${t('nav.transfers')}</h2>
    <div class="toolbar"><button id="transfer-clear" type="button" class="light" onClick=${clearTransfers}
      disabled=${!s.transfers.length}>${t('tr.clear')}</button></div>
    ${s.transfers.length
      ? html`<ol id="transfer-log" reversed>${s.transfers.map((line, i) => html`<li key=${s.transfers.length - i}>${line}</li>`)}</ol>`
      : html`<p class="state empty">${t('empty.transfers')}</p>`}
  </div>`;
}
