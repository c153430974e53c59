/*
 * Programme Delivery – general page behaviour (classic script, ES2017, no dependencies).
 *
 * Loaded by base.html at the end of <body>, after htmx and before the ES modules
 * (app-modules.js initialises GOV.UK Frontend / MoJ Frontend components).
 * There is no inline JavaScript anywhere: CSP allows only nonce'd script files.
 *
 * Feature-specific code (e.g. calendar drag and drop) belongs in its own file,
 * added by a page through {% block scripts %}. Use `defer` (or type="module") on
 * those tags if they need window.App or window.GOVUKFrontend, which the module
 * sets once it has run.
 */
(function () {
  'use strict'

  var body = document.body

  // 1. Tell the CSS that JavaScript is running. GOV.UK Frontend only initialises
  //    when <body> has "govuk-frontend-supported", i.e. the browser runs ES modules.
  body.classList.add('js-enabled')
  if ('noModule' in HTMLScriptElement.prototype) {
    body.classList.add('govuk-frontend-supported')
  }

  // 2. CSRF: send the token from <meta name="csrf-token"> on every htmx request.
  //    Flask-WTF's CSRFProtect reads the X-CSRFToken header.
  document.addEventListener('htmx:configRequest', function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]')
    if (meta && meta.content) {
      event.detail.headers['X-CSRFToken'] = meta.content
    }
  })

  // 3. Focus management after htmx swaps, so keyboard and screen reader users
  //    land on what changed. Priority:
  //      a) a GOV.UK error summary (or other [role=alert]) in the new content
  //      b) the element that had the focus when its content was redrawn (same id):
  //         someone who has moved on to the next field while a save was on its
  //         way stays there
  //      c) the first element marked [data-focus-after-swap]
  //    htmx fires htmx:afterSwap once per swapped element (main target and any
  //    out-of-band swaps) synchronously, so collect them and decide once.
  var swapped = []
  var focusedBefore = null

  function makeFocusable (el) {
    // Non-interactive elements (headings, divs) need tabindex="-1" to take focus.
    if (el.tabIndex < 0 && !el.hasAttribute('tabindex')) {
      el.setAttribute('tabindex', '-1')
    }
  }

  function findIn (roots, selector) {
    for (var i = 0; i < roots.length; i++) {
      var root = roots[i]
      if (!root || !root.isConnected) continue
      if (root.matches && root.matches(selector)) return root
      var found = root.querySelector && root.querySelector(selector)
      if (found) return found
    }
    return null
  }

  function focusAfterSwap () {
    var roots = swapped
    swapped = []

    var target = null
    var before = focusedBefore && document.getElementById(focusedBefore)
    focusedBefore = null
    var alert = findIn(roots, '.govuk-error-summary, [role="alert"]')
    if (alert) {
      // The GOV.UK error summary keeps role="alert" on an inner div: focus the summary.
      target = alert.closest('.govuk-error-summary') || alert
    } else if (before && findIn(roots, '#' + CSS.escape(before.id)) === before) {
      target = before // htmx itself may already have put it back there
    } else {
      target = findIn(roots, '[data-focus-after-swap]')
    }
    if (target) {
      makeFocusable(target)
      target.focus()
    }
  }

  document.addEventListener('htmx:beforeSwap', function (event) {
    var active = document.activeElement
    var target = event.detail.target
    if (active && active.id && target && target !== active && target.contains(active)) {
      focusedBefore = active.id
    }
  })

  document.addEventListener('htmx:afterSwap', function (event) {
    if (swapped.length === 0) {
      // Runs after htmx has finished the whole swap (all afterSwap events).
      Promise.resolve().then(focusAfterSwap)
    }
    swapped.push(event.target)
  })

  // Small public API for feature scripts (window.App).
  window.App = window.App || {}
  window.App.makeFocusable = makeFocusable
})()
