/*
 * Attendance register (tablet first). Loaded with `defer` by register/show.html and register/print.html.
 *
 * 1. Every save carries an idempotency key (header "Idempotency-Key"), a new one per tap, so a tap that is
 *    sent twice (a retry after a dropped connection) is applied once. A retry must re-send the same key:
 *    code that re-issues a request keeps detail.headers['Idempotency-Key'] and this file leaves it alone.
 * 2. One request per row at a time. A tap made while the row is still saving is held, and replayed on the
 *    redrawn row (with the new version), so quick taps never collide with each other as a false conflict.
 * 3. Text being typed in a row is kept when the row is redrawn by a save of another field.
 * 4. If the person was signed out the row says so and nothing is lost from the screen; with a stale CSRF
 *    token the server answers with a fresh one, kept here for the next tap.
 * 5. Poor connection: a save that cannot reach the server (no network, or a gateway saying the server is
 *    unreachable) is kept in a queue for its row, and the row says "Not saved yet – will retry". It is sent
 *    again, exactly as it was and with the SAME idempotency key, when the browser comes back online and on a
 *    timer (2 s, then longer, up to 30 s), so a save that did reach the server before the connection dropped
 *    is not applied twice. Taps on that row meanwhile are held (2.) and replayed after it. Leaving the page
 *    with saves still queued asks first.
 */
(function () {
  'use strict'

  var ROW = '.app-register-row'
  var busy = {}
  var held = {}
  var typing = null
  var sent = {} // row id -> the last save sent for it: {path, key, entries}
  var queued = {} // row id -> a save that could not reach the server, waiting to be sent again
  var retrying = {} // row id -> true while its queued save is being re-sent
  var retryTimer = null
  var retryDelay = 2000
  var NOT_REACHED = [0, 502, 503, 504] // no response at all, or a gateway that could not reach the server

  function rowOf (el) {
    return el && el.closest ? el.closest(ROW) : null
  }

  function newKey () {
    if (window.crypto && window.crypto.randomUUID) {
      return window.crypto.randomUUID()
    }
    var bytes = new Uint8Array(16)
    window.crypto.getRandomValues(bytes)
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2) }).join('')
  }

  function fieldValues (form) {
    var values = {}
    Array.prototype.forEach.call(form.querySelectorAll('input[type=time], input[type=checkbox], textarea'), function (el) {
      values[el.name] = el.type === 'checkbox' ? el.checked : el.value
    })
    return values
  }

  function problem (row, message, link) {
    var p = row && row.querySelector('.app-register-row__problem')
    if (!p) return
    p.textContent = message
    if (link) {
      var a = document.createElement('a')
      a.className = 'govuk-link'
      a.href = link.href
      a.target = '_blank'
      a.rel = 'noopener'
      a.textContent = link.text
      p.appendChild(document.createTextNode(' '))
      p.appendChild(a)
    }
    p.hidden = !message
    if (message) row.classList.add('app-register-row--error')
    else row.classList.remove('app-register-row--error')
  }

  // 1. Idempotency key and the row's id on every register request.
  document.addEventListener('htmx:configRequest', function (event) {
    var row = rowOf(event.target)
    if (!row || !row.dataset.attendee) return
    var id = row.dataset.attendee
    event.detail.headers['X-Register-Row'] = id
    if (event.detail.verb === 'get') return
    var data = event.detail.formData
    if (retrying[id] && queued[id]) {
      // 5. A re-send: the same fields and the same key as the save that did not get through.
      var again = queued[id]
      Array.from(data.keys()).forEach(function (name) { data.delete(name) })
      again.entries.forEach(function (entry) { data.append(entry[0], entry[1]) })
      var meta = document.querySelector('meta[name="csrf-token"]')
      if (meta && meta.content) data.set('csrf_token', meta.content)
      event.detail.headers['Idempotency-Key'] = again.key
      event.detail.headers['HX-Trigger-Name'] = ''
      return
    }
    if (!event.detail.headers['Idempotency-Key']) {
      event.detail.headers['Idempotency-Key'] = newKey()
    }
    sent[id] = { path: event.detail.path, key: event.detail.headers['Idempotency-Key'], entries: Array.from(data.entries()) }
  })

  // 2. Hold a tap while its row is saving.
  document.addEventListener('htmx:confirm', function (event) {
    var row = rowOf(event.detail.elt || event.target)
    if (!row || !row.dataset.attendee || event.detail.verb === 'get') return
    var id = row.dataset.attendee
    if (retrying[id]) return // 5. the queued save going out again
    // A save that never answered within the request timeout does not block the row for ever.
    if (!queued[id] && (!busy[id] || Date.now() - busy[id] > 30000)) {
      busy[id] = Date.now()
      problem(row, '')
      return
    }
    event.preventDefault()
    var form = row.querySelector('form.app-register-row__form')
    var trigger = event.detail.triggeringEvent
    var submitter = trigger && trigger.submitter
    held[id] = {
      values: form ? fieldValues(form) : {},
      submitter: submitter ? { name: submitter.name, value: submitter.value } : (held[id] && held[id].submitter)
    }
  })

  function release (id) {
    busy[id] = false
    var intent = held[id]
    delete held[id]
    if (!intent) return
    var row = document.getElementById('attendee-' + id)
    var form = row && row.querySelector('form.app-register-row__form')
    if (!form) return // a conflict or a refusal is on screen now: the person decides
    htmx.process(row) // htmx would otherwise wire the new row only after its settle delay
    Object.keys(intent.values).forEach(function (name) {
      var el = form.querySelector('[name="' + name + '"]:not([type=hidden])')
      if (!el) return
      if (el.type === 'checkbox') el.checked = intent.values[name]
      else el.value = intent.values[name]
    })
    var button = null
    if (intent.submitter && intent.submitter.name) {
      button = row.querySelector('button[name="' + intent.submitter.name + '"][value="' + intent.submitter.value + '"]')
    }
    // A click lets htmx see which button was pressed; a change of a field needs no button.
    if (button) button.click()
    else htmx.trigger(form, 'submit')
  }

  document.addEventListener('htmx:afterRequest', function (event) {
    var config = event.detail.requestConfig
    var id = config && config.headers && config.headers['X-Register-Row']
    if (!id || config.verb === 'get') return
    var wasRetry = retrying[id]
    delete retrying[id]
    if (!event.detail.successful && NOT_REACHED.indexOf(event.detail.xhr.status) >= 0) {
      // 5. Keep it (once: a re-send that fails again is the same save) and try again later.
      if (!wasRetry) queued[id] = sent[id]
      notSavedYet(id)
      scheduleRetry(wasRetry)
      return // the row stays busy: later taps on it wait for this save
    }
    delete queued[id]
    if (Object.keys(queued).length === 0) retryDelay = 2000
    // Let htmx finish settling the new row before replaying anything held.
    window.setTimeout(function () { release(id) }, 0)
  })

  // 5. Poor connection: the queue of saves that did not get through.
  function notSavedYet (id) {
    var row = document.getElementById('attendee-' + id)
    if (!row) return
    problem(row, 'Not saved yet – will retry when the connection is back. Keep this page open.')
    row.classList.add('app-register-row--queued')
    var name = row.querySelector('.app-register-row__name')
    var announce = document.getElementById('register-announce')
    if (announce) {
      announce.textContent = 'Not saved yet for ' + (name ? name.textContent : 'this person') +
        ': no connection. It will be sent again when the connection is back.'
    }
  }

  function scheduleRetry (backOff) {
    if (backOff) retryDelay = Math.min(retryDelay * 2, 30000)
    if (retryTimer) return
    retryTimer = window.setTimeout(retryAll, retryDelay)
  }

  function retryAll () {
    window.clearTimeout(retryTimer)
    retryTimer = null
    Object.keys(queued).forEach(function (id) {
      if (retrying[id]) return
      var row = document.getElementById('attendee-' + id)
      var form = row && row.querySelector('form')
      if (!form) { delete queued[id]; busy[id] = false; return }
      retrying[id] = true
      var sending = htmx.ajax('POST', queued[id].path, { source: form, target: row, swap: 'outerHTML' })
      if (sending && sending.catch) sending.catch(function () {}) // a failure is handled in htmx:afterRequest
    })
  }

  window.addEventListener('online', function () {
    retryDelay = 2000
    retryAll()
  })

  window.addEventListener('beforeunload', function (event) {
    if (Object.keys(queued).length === 0) return
    event.preventDefault()
    event.returnValue = '' // browsers show their own "leave this page?" question
  })

  // 3. Keep text being typed when its row is redrawn.
  document.addEventListener('htmx:beforeSwap', function (event) {
    // 5. A re-sent save landing in the background does not take the focus from whatever the person is doing.
    var config = event.detail.requestConfig
    var rowId = config && config.headers && config.headers['X-Register-Row']
    if (rowId && retrying[rowId] && typeof event.detail.serverResponse === 'string') {
      event.detail.serverResponse = event.detail.serverResponse.replace(/ data-focus-after-swap/g, '')
    }
    var active = document.activeElement
    var row = rowOf(active)
    if (!row || row !== event.detail.target) return
    if ((active.tagName === 'TEXTAREA' || active.type === 'text') && active.value !== active.defaultValue) {
      typing = { row: row.id, id: active.id, value: active.value, start: active.selectionStart, end: active.selectionEnd }
    } else {
      typing = null
    }
  })

  document.addEventListener('htmx:afterSettle', function () {
    if (!typing) return
    var kept = typing
    typing = null
    var el = document.getElementById(kept.id)
    if (!el || !rowOf(el) || rowOf(el).id !== kept.row) return
    el.value = kept.value
    el.focus()
    try { el.setSelectionRange(kept.start, kept.end) } catch (e) {}
  })

  // 4. Signed out, expired token.
  document.addEventListener('htmx:beforeOnLoad', function (event) {
    var xhr = event.detail.xhr
    var row = rowOf(event.target) || rowOf(event.detail.target)
    var fresh = xhr.getResponseHeader('X-CSRF-Token')
    if (fresh) {
      var meta = document.querySelector('meta[name="csrf-token"]')
      if (meta) meta.content = fresh
      Array.prototype.forEach.call(document.querySelectorAll('input[name="csrf_token"]'), function (input) {
        input.value = fresh
      })
    }
    // Signed out: after an idle timeout the server answers 401; a session ended elsewhere redirects to sign-in.
    var signedOut = xhr.status === 401 || /\/login(\?|$)/.test(xhr.responseURL || '')
    if (row && signedOut) {
      event.preventDefault()
      problem(row, 'Not saved: you were signed out. Nothing on this page is lost: sign in again, then tap again here.',
        { href: '/login', text: 'Sign in again (opens a new tab)' })
      var id = row.dataset.attendee
      busy[id] = false
      delete held[id]
    }
  })

  // Print button on the printable register.
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-app-print]')
    if (button) {
      event.preventDefault()
      window.print()
    }
  })

  window.App = window.App || {}
  window.App.register = { newKey: newKey }
})()
