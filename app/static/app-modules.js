/*
 * Programme Delivery – initialise GOV.UK Frontend and MoJ Frontend (ES module).
 *
 * Loaded by base.html as <script type="module" nonce=…>. Imports resolve
 * relative to this file, so the vendored bundles load from /static/govuk/ and
 * /static/moj/ (already fetched by their own module tags; modules run once).
 *
 * - initialises every [data-module] component on the page;
 * - re-initialises components inside content that htmx swaps in (htmx:load);
 * - exposes window.GOVUKFrontend, window.MOJFrontend and window.App.initComponents
 *   for feature scripts.
 */
import * as GOVUKFrontend from './govuk/govuk-frontend.min.js'
import * as MOJFrontend from './moj/moj-frontend.min.js'

window.GOVUKFrontend = GOVUKFrontend
window.MOJFrontend = MOJFrontend

// Components refuse to initialise twice (InitError). Re-scanning a container
// that holds already-initialised components is expected here, so ignore that
// error and log anything else.
function onError (error) {
  if (error && error.name === 'InitError') return
  console.error(error)
}

/**
 * Initialise GOV.UK and MoJ components inside `scope` (default: the document).
 * Both libraries only look at descendants of the scope.
 */
function initComponents (scope) {
  const options = { scope: scope || document, onError }
  GOVUKFrontend.initAll(options)
  MOJFrontend.initAll(options)
}

window.App = window.App || {}
window.App.initComponents = initComponents

initComponents(document)

// htmx fires htmx:load on each element it inserts (after settling) and once on
// <body> at start-up (already handled above). Scan from the parent so a
// swapped-in element that is itself a [data-module] component is included.
document.addEventListener('htmx:load', function (event) {
  const el = event.target
  if (!el || el === document.body || !el.isConnected) return
  initComponents(el.parentElement || el)
})
