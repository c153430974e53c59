/*
 * Attendance register (tablet first). Loaded with `defer` by register/show.html and register/print.html, after
 * offline.js (window.App.offline: the changes waiting on the device, and the sending of them).
 *
 * 1. Every save of a row (an outcome tap, a time, "did not engage", notes) and of the session notes is kept
 *    on the device first (IndexedDB, with a new idempotency key and the version of the record shown), then
 *    sent by offline.js: one at a time, in the order they were made, each applied once. htmx does not send
 *    them itself (this file takes the request in htmx:confirm); the row's form stays a plain form for
 *    browsers without JavaScript.
 * 2. Until the server has it, the row shows what it is waiting to send: the outcome button pressed, the
 *    times, flag and notes as entered, and "Waiting to send". "Saved" appears only with the server's answer
 *    (the row it sends back, which replaces the row). Taps on a row whose change is still waiting are kept
 *    after it and take the version it produced, so quick taps never collide as a false conflict.
 * 3. Opening the register (a reload, a new tab, a copy opened offline) shows again what is waiting for it,
 *    and a conflict or a refusal still to be settled (asked again from the server: a stale version is
 *    refused again and nothing is written), side by side as when it happened. "Keep the saved version" and
 *    "Keep their notes" let go of the change; "Use my change" is a new change.
 * 4. Text being typed in a row is kept when the row is redrawn by a save of another field, and the focus stays
 *    where the person is (a change answered in the background never takes it).
 */
(function () {
  'use strict'

  // Print button on the printable register.
  document.addEventListener('click', function (event) {
    var button = event.target.closest && event.target.closest('[data-app-print]')
    if (button) {
      event.preventDefault()
      window.print()
    }
  })

  var page = document.querySelector('.app-register-page[data-session]')
  var offline = window.App && window.App.offline
  if (!page || !offline) return
  var session = page.dataset.session
  var ROW = '.app-register-row'

  function rowOf (el) {
    return el && el.closest ? el.closest(ROW) : null
  }

  function targetOf (el) {
    var row = rowOf(el)
    if (row && row.dataset.attendee) return { el: row, name: 'row:' + row.dataset.attendee, attendee: row.dataset.attendee }
    var notes = el && el.closest && el.closest('#session-notes')
    if (notes) return { el: notes, name: 'notes', attendee: null }
    return null
  }

  function elementFor (target) {
    return target === 'notes' ? document.getElementById('session-notes')
      : document.getElementById('attendee-' + target.split(':')[1])
  }

  function values (fields) {
    var out = {}
    fields.forEach(function (f) { out[f[0]] = f[1] })
    return out
  }

  // 1. A save: kept on the device, shown as waiting, then sent.
  document.addEventListener('htmx:confirm', function (event) {
    var detail = event.detail
    if (detail.verb === 'get') return
    var target = targetOf(detail.elt)
    if (!target) return
    event.preventDefault()
    var form = detail.elt.tagName === 'FORM' ? detail.elt : detail.elt.closest('form')
    if (!form) return
    var trigger = detail.triggeringEvent
    var submitter = trigger && trigger.submitter && trigger.submitter.form === form ? trigger.submitter : null
    var data = submitter ? new FormData(form, submitter) : new FormData(form)
    var fields = []
    data.forEach(function (value, name) {
      if (name !== 'csrf_token' && name !== 'idempotency_key') fields.push([name, String(value)])
    })
    var change = {
      session: session, target: target.name, attendee: target.attendee, path: detail.path, fields: fields,
      trigger: submitter ? '' : (detail.elt.name || '')
    }
    show(change, true)
    offline.record(change).then(offline.send, function () {
      problem(target.el, 'Not kept on this device: this browser cannot store it. Keep this page open and tap again.')
    })
  })

  // 2. What a row is waiting to send.
  function show (change, tapped) {
    var el = elementFor(change.target)
    if (!el || el.hasAttribute('data-restricted')) return
    var v = values(change.fields)
    var label = 'Waiting to send'
    if (change.target === 'notes') {
      var text = el.querySelector('textarea[name="session_notes"]')
      if (text && document.activeElement !== text) text.value = v.session_notes || ''
    } else {
      var form = el.querySelector('form.app-register-row__form')
      var outcome = 'outcome' in v ? v.outcome : (v.current_outcome || '')
      if (outcome === 'NONE') outcome = ''
      if (form) {
        var current = form.querySelector('input[name="current_outcome"]')
        if (current) current.value = outcome
        Array.prototype.forEach.call(form.querySelectorAll('button[name="outcome"]'), function (b) {
          b.setAttribute('aria-pressed', b.value === outcome ? 'true' : 'false')
        })
        var absence = form.querySelector('.app-register-absence')
        if (absence && /^AA/.test(outcome)) absence.open = true
        ;['arrived_at', 'departed_at', 'notes'].forEach(function (name) {
          var input = form.querySelector('[name="' + name + '"]:not([type=hidden])')
          if (input && document.activeElement !== input && name in v) input.value = v[name]
        })
        var dne = form.querySelector('input[name="did_not_engage"]')
        if (dne) dne.checked = !!v.did_not_engage
      }
      var code = 'outcome' in v ? v.outcome : v.current_outcome
      var pressed = code && el.querySelector('button[name="outcome"][value="' + code + '"]')
      if (code === 'NONE') label += ': outcome cleared'
      else if (code) label += ': ' + ((pressed && pressed.dataset.label) || code)
    }
    el.classList.add('app-register-row--waiting')
    el.classList.remove('app-register-row--saved', 'app-register-row--error')
    Array.prototype.forEach.call(el.querySelectorAll('.app-register-row__saved, .app-register__saved'), function (s) { s.remove() })
    var mark = el.querySelector('.app-offline-waiting')
    if (!mark) {
      mark = document.createElement('strong')
      mark.className = 'app-offline-waiting'
      var place = el.querySelector('.app-register-row__person') || el.querySelector('.app-register-notes__heading')
      if (place && place.classList.contains('app-register-notes__heading')) place.appendChild(document.createTextNode(' '))
      ;(place || el).appendChild(mark)
    }
    mark.textContent = label
    if (tapped) {
      var announce = document.getElementById('register-announce')
      var name = el.querySelector('.app-register-row__name')
      if (announce) announce.textContent = label + (name ? ' for ' + name.textContent : '') + '.'
    }
  }

  function problem (el, message) {
    var p = el && el.querySelector('.app-register-row__problem')
    if (!p) return
    p.textContent = message
    p.hidden = !message
  }

  // The server's answer replaces the row (or the session notes); changes still waiting are shown on it again.
  function swapIn (target, html, background, answered) {
    var el = elementFor(target)
    if (!el || !html) return
    var active = document.activeElement
    var inside = el.contains(active)
    if (background || !inside) html = html.replace(/ data-focus-after-swap/g, '')
    var typing = null
    var typed = active && (active.tagName === 'TEXTAREA' || (active.tagName === 'INPUT' && /^(text|time|number)$/.test(active.type)))
    if (inside && typed && active.id && active.value !== active.defaultValue) {
      typing = { id: active.id, value: active.value, start: active.selectionStart, end: active.selectionEnd }
    }
    // app.js keeps the focus on what had it (same id) when told, as for an htmx swap
    el.dispatchEvent(new CustomEvent('htmx:beforeSwap', { bubbles: true, detail: { target: el, elt: el, serverResponse: html } }))
    htmx.swap(el, html, { swapStyle: 'outerHTML' })
    var now = elementFor(target)
    if (now) htmx.process(now)
    if (typing) {
      var field = document.getElementById(typing.id)
      if (field) {
        field.value = typing.value
        field.focus()
        try { field.setSelectionRange(typing.start, typing.end) } catch (e) {}
        // A value put back by script fires no "change" of its own: a field that saves on change still saves
        // what was typed when the person leaves it.
        field.addEventListener('blur', function () {
          if (field.value !== field.defaultValue) field.dispatchEvent(new Event('change', { bubbles: true }))
        }, { once: true })
      }
    } else if (!inside && active && active.isConnected && active !== document.body) {
      Promise.resolve().then(function () { return Promise.resolve() }).then(function () {
        if (document.activeElement !== active && active.isConnected) active.focus({ preventScroll: true })
      })
    }
    return offline.forSession(session).then(function (records) {
      records.forEach(function (r) {
        // (the answer's own change, and those it holds back, are still in the store for a moment)
        if (r.target !== target || r.state !== 'waiting') return
        if (answered && (r.seq === answered.seq || (answered.kind !== 'saved' && r.seq > answered.seq))) return
        show(r, false)
      })
    })
  }

  document.addEventListener('app:offline', function (event) {
    var detail = event.detail
    if (detail.type !== 'answered' || String(detail.change.session) !== session) return
    if (detail.kind !== 'saved' && [400, 409, 422].indexOf(detail.status) < 0) return // not a row: the banner says
    swapIn(detail.change.target, detail.html, !!detail.remote, { seq: detail.change.seq, kind: detail.kind })
  })

  // 3. "Keep the saved version" / "Keep their notes": the change waiting for this row is let go.
  document.addEventListener('click', function (event) {
    var keep = event.target.closest && event.target.closest('[data-app-keep-saved]')
    if (!keep) return
    var target = targetOf(keep)
    if (!target) return
    if (target.name === 'notes') {
      event.preventDefault()
      offline.settle(session, 'notes').then(function () { window.location.href = keep.href })
    } else {
      offline.settle(session, target.name)
    }
  }, true)

  offline.forSession(session).then(function (records) {
    var last = {}
    records.forEach(function (r) {
      if (r.state === 'waiting') show(r, false)
      else last[r.target] = r
    })
    Object.keys(last).forEach(function (target) {
      offline.answerFor(last[target]).then(function (html) {
        if (html) swapIn(target, html, true)
      })
    })
  })
})()
