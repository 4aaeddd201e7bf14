// yunpan web client: ES modules over the course's JSON API (docs/api.md §1),
// served as plain files. js/store.js holds the state, js/views/* render it
// with Preact (html/vendor), js/api.js talks to the server.
import { html, render } from './js/lib.js';
import { applyLang, initialLang } from './js/i18n.js';
import { useStore } from './js/store.js';
import { watchRoute } from './js/route.js';
import { boot } from './js/session.js';
import { App } from './js/views/app.js';

function Root() {
  const s = useStore();
  return html`<${App} s=${s} />`;
}

applyLang(initialLang());
watchRoute();
render(html`<${Root} />`, document.getElementById('app'));
boot();
