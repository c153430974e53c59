/*
 * The register's service worker (issue 17). Served at /sessions/offline-worker.js with the scope /sessions:
 * it controls My sessions and the registers, nothing else, and it only ever answers GET requests.
 *
 * - A page it controls (a navigation) goes to the network first. When the network cannot be reached, My
 *   sessions and a register are answered with the copy kept on this device (offline.js keeps them, in the
 *   cache "pd-registers-<user id>", when My sessions is opened on a connection: the copies carry their own
 *   "Offline copy from 09:12" banner). Any other page, or a register without a copy, says plainly that it
 *   needs a connection.
 * - Static files (/static/…) asked for by those pages: the network first, the copy kept in "pd-static" when
 *   there is none. Every static file that comes through is kept, so what the register needs is there offline.
 * - Everything else (saves, the row fragments, the CSRF token) goes to the network untouched: changes made
 *   offline wait in IndexedDB (offline.js), never in this worker.
 *
 * Only one person's copies are ever on the device: offline.js deletes the copies of anyone else when a
 * signed-in page opens, and signing out deletes them. No details of a restricted person are in a copy (the
 * server leaves them out of the page it renders for a copy, and only such pages are kept).
 */
'use strict'

var STATIC_CACHE = 'pd-static'
var COPIES = 'pd-registers-'
var ROOT = new URL(self.registration.scope).pathname.replace(/\/sessions\/?$/, '')
var KEPT = new RegExp('^' + ROOT + '/sessions(/[0-9]+)?/?$')

self.addEventListener('install', function () {
  self.skipWaiting()
})

self.addEventListener('activate', function (event) {
  event.waitUntil(self.clients.claim())
})

function copyFor (path) {
  return caches.keys().then(function (names) {
    var mine = names.filter(function (name) { return name.indexOf(COPIES) === 0 })
    if (mine.length !== 1) return null // nobody's copies, or (briefly) two people's: show neither
    return caches.open(mine[0]).then(function (cache) { return cache.match(path) })
  })
}

function keptRegisters () {
  return caches.keys().then(function (names) {
    var mine = names.filter(function (name) { return name.indexOf(COPIES) === 0 })
    if (mine.length !== 1) return []
    return caches.open(mine[0]).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.map(function (request) {
          var path = new URL(request.url).pathname
          if (!/\/sessions\/[0-9]+$/.test(path)) return null
          return cache.match(request).then(function (response) { return response.text() }).then(function (html) {
            var title = /<title>([^<]*)<\/title>/.exec(html)
            return { path: path, title: title ? title[1].split(' – ')[0] : 'Register' }
          })
        }))
      })
    }).then(function (found) { return found.filter(Boolean) })
  })
}

function escape (text) {
  return text.replace(/[&<>"']/g, function (c) {
    return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]
  })
}

// The page for anything that is not kept: it needs a connection (and which registers can be opened instead).
function needsConnection (isRegister) {
  return keptRegisters().then(function (kept) {
    var list = kept.map(function (r) {
      return '<li><a class="govuk-link" href="' + escape(r.path) + '">' + r.title + '</a></li>'
    }).join('')
    var body = '<h1 class="govuk-heading-l">This page needs a connection</h1>' +
      '<p class="govuk-body">You are offline' + (isRegister ? ', and this register is not kept on this device' : '') +
      '. Open it again when you are back online.</p>' +
      (list
        ? '<p class="govuk-body">These registers are kept on this device and open without a connection:</p>' +
          '<ul class="govuk-list">' + list + '</ul>' +
          '<p class="govuk-body"><a class="govuk-link" href="' + ROOT + '/sessions">My sessions (offline copy)</a></p>'
        : '<p class="govuk-body">No registers are kept on this device. Open My sessions on a connection to keep ' +
          'today’s and the next 7 days’ registers for offline use.</p>')
    var html = '<!DOCTYPE html><html lang="en" class="govuk-template"><head><meta charset="utf-8">' +
      '<title>This page needs a connection – Programme Delivery – GOV.UK</title>' +
      '<meta name="viewport" content="width=device-width, initial-scale=1">' +
      '<link rel="stylesheet" href="' + ROOT + '/static/govuk/govuk-frontend.min.css">' +
      '<link rel="stylesheet" href="' + ROOT + '/static/moj/moj-frontend.min.css">' +
      '<link rel="stylesheet" href="' + ROOT + '/static/app.css"></head>' +
      '<body class="govuk-template__body"><header class="app-header" role="banner"><div class="moj-header">' +
      '<div class="moj-header__container"><div class="moj-header__logo">' +
      '<span class="moj-header__link moj-header__link--organisation-name">Ministry of Justice</span> ' +
      '<a class="moj-header__link moj-header__link--service-name" href="' + ROOT + '/sessions">Programme Delivery</a>' +
      '</div></div></div></header><div class="govuk-width-container">' +
      '<main class="govuk-main-wrapper" id="main-content">' + body + '</main></div>' +
      '<footer class="govuk-footer"><div class="govuk-width-container"><div class="govuk-footer__meta">' +
      '<div class="govuk-footer__meta-item">© Crown copyright</div></div></div></footer></body></html>'
    return new Response(html, {
      status: 503,
      headers: {
        'Content-Type': 'text/html; charset=utf-8',
        'Cache-Control': 'no-store',
        'Content-Security-Policy': "default-src 'self'; script-src 'none'; object-src 'none'; base-uri 'none'; " +
          "form-action 'self'; frame-ancestors 'none'"
      }
    })
  })
}

function page (request) {
  var path = new URL(request.url).pathname
  return fetch(request).catch(function () {
    if (!KEPT.test(path)) return needsConnection(false)
    return copyFor(path).then(function (copy) { return copy || needsConnection(true) })
  })
}

function staticFile (request) {
  return fetch(request).then(function (response) {
    if (response.ok && response.type === 'basic') {
      var kept = response.clone()
      caches.open(STATIC_CACHE).then(function (cache) { return cache.put(request, kept) })
    }
    return response
  }, function (error) {
    return caches.open(STATIC_CACHE).then(function (cache) {
      return cache.match(request, { ignoreSearch: true })
    }).then(function (kept) {
      if (kept) return kept
      throw error
    })
  })
}

self.addEventListener('fetch', function (event) {
  var request = event.request
  if (request.method !== 'GET') return
  var url = new URL(request.url)
  if (url.origin !== self.location.origin) return
  if (request.mode === 'navigate') {
    event.respondWith(page(request))
  } else if (url.pathname.indexOf(ROOT + '/static/') === 0) {
    event.respondWith(staticFile(request))
  }
})
