/*
 * Changes that wait on the device (issue 17). Loaded by base.html on every page for a signed-in person, before
 * register.js, which records the changes (window.App.offline.record).
 *
 * 1. A change (a register tap, a time, a flag, notes) is written to IndexedDB first, with its idempotency key,
 *    the version of the record the person saw and who made it; then it is sent. It stays there until the
 *    server has answered: a closed tab, a reload, a browser restart or a sleeping tablet lose nothing.
 * 2. The changes of the signed-in person are sent one at a time in the order they were made (whichever tab
 *    gets the lock sends), each with its own key, so one that did reach the server before the connection
 *    dropped is not applied twice. A change made on top of another one still waiting takes the version the
 *    first one produced. A conflict or a refusal keeps the change on the device, marked, until the person
 *    chooses on the register; later changes of the same row wait with it.
 * 3. Sent again when the browser comes back online, when a page opens, when the person signs in again (in
 *    any tab), and on a timer (2 s doubling to 30 s). Signed out or expired: kept, sent after signing in again
 *    with a new CSRF token (asked for, with who is signed in, at /sessions/offline-token). The changes of
 *    someone else on a shared tablet are never sent: only the signed-in person's are, and the server refuses a
 *    change that is not theirs (X-Queued-By).
 * 4. A banner says how many changes are waiting, and why (offline, signed out, someone else signed in).
 * 5. Privacy on a shared tablet: copies of registers (the service worker's, see register-worker.js) belong to
 *    one person; a signed-in page deletes anyone else's. Signing out deletes the person's copies and, once
 *    sent, their changes; with changes still waiting it asks first. The server's Clear-Site-Data "storage"
 *    would wipe every change on the device, so the sign-out says when some (anyone's) must be kept.
 * 6. My sessions, opened on a connection, keeps today's and the next 7 days' registers for offline use; a
 *    register opened on a connection refreshes its own copy. Offline, a link to a page that is not kept says
 *    plainly that it needs a connection.
 */
(function () {
  'use strict'

  var who = document.querySelector('meta[name="app-user"]')
  if (!who || !window.indexedDB) return
  var me = who.content
  var ROOT = who.getAttribute('data-root') || ''
  var SCOPE = ROOT + '/sessions'
  var COPIES = 'pd-registers-'
  var DB_NAME = 'programme-delivery-offline'
  var STORE = 'changes'
  var isCopy = !!document.querySelector('[data-offline-copy]')
  var channel = window.BroadcastChannel ? new BroadcastChannel('pd-offline') : null

  var WORDS = {
    changes: function (n) { return n === 1 ? '1 change' : n + ' changes' },
    offline: 'You are offline. {n} waiting to be sent: {they} kept on this device and sent when you are back online.',
    signedOut: 'You have been signed out. {n} waiting to be sent {are} kept on this device: sign in again to send {them}.',
    signIn: 'Sign in again',
    signInNewTab: 'Sign in again (opens a new tab)',
    someoneElse: 'Someone else is signed in on this device. Your {n} waiting {are} kept and sent when you sign in again.',
    unreachable: '{n} waiting to be sent: the service cannot be reached just now. {They} kept on this device and sent again shortly.',
    sending: 'Sending {n}…',
    needsYou: '{n} not saved: someone else changed the record, or it could not be saved. Choose what to keep on the register.',
    needsYouHere: '{n} not saved: someone else changed the record, or it could not be saved. Choose what to keep in the row marked below.',
    cannot: '{n} cannot be saved: you may no longer record that register.',
    forget: 'Delete {them}',
    backOnline: 'You are back online and nothing is waiting to be sent.',
    reload: 'Open the register as it is now',
    reloadList: 'Open My sessions as it is now',
    openRegister: 'Open the register',
    others: '{n} made on this device by someone else {are} kept until they sign in again.',
    needsConnection: 'That page needs a connection: you are offline. Registers kept on this device still open.',
    askTitle: 'Some changes have not been sent yet',
    ask: '{n} made on this device {are} not saved yet.',
    askOffline: 'You are offline, and signing out needs a connection. Your {n} {are} kept on this device and sent when you are back online.',
    stay: 'Stay signed in',
    keep: 'Sign out and keep the changes on this device',
    keepHint: 'They are sent when you sign in again.',
    discard: 'Sign out and delete the changes',
    discardHint: 'They will not be saved.',
    close: 'Close'
  }

  function say (text, n) {
    var one = n === 1
    return text.replace('{n}', WORDS.changes(n)).replace('{are}', one ? 'is' : 'are')
      .replace('{they}', one ? 'it is' : 'they are').replace('{They}', one ? 'It is' : 'They are')
      .replace('{them}', one ? 'it' : 'them')
  }

  // 1. The store ---------------------------------------------------------------------------------------------
  var opening = null

  function database () {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var request = indexedDB.open(DB_NAME, 1)
        request.onupgradeneeded = function () {
          request.result.createObjectStore(STORE, { keyPath: 'seq', autoIncrement: true })
        }
        request.onsuccess = function () {
          var db = request.result
          db.onversionchange = function () { db.close(); opening = null }
          db.onclose = function () { opening = null }
          resolve(db)
        }
        request.onerror = function () { opening = null; reject(request.error) }
      })
    }
    return opening
  }

  // Read every change, let `edit` decide what to add, put back or remove, all in one transaction (written to
  // disk before it counts as done).
  function transact (edit) {
    return database().then(function (db) {
      return new Promise(function (resolve, reject) {
        var t = db.transaction(STORE, edit ? 'readwrite' : 'readonly', { durability: 'strict' })
        var store = t.objectStore(STORE)
        var result = null
        var all = store.getAll()
        all.onsuccess = function () {
          var records = all.result.sort(function (a, b) { return a.seq - b.seq })
          if (!edit) { result = records; return }
          var out = edit(records) || {}
          ;(out.remove || []).forEach(function (seq) { store.delete(seq) })
          ;(out.put || []).forEach(function (record) { store.put(record) })
          ;(out.add || []).forEach(function (record) {
            var added = store.add(record)
            added.onsuccess = function () { record.seq = added.result }
          })
          result = out.result === undefined ? out : out.result
        }
        t.oncomplete = function () { resolve(result) }
        t.onerror = t.onabort = function () { reject(t.error) }
      })
    })
  }

  function everything () { return transact(null) }

  function field (record, name) {
    for (var i = 0; i < record.fields.length; i++) {
      if (record.fields[i][0] === name) return record.fields[i][1]
    }
    return null
  }

  function setField (record, name, value) {
    for (var i = 0; i < record.fields.length; i++) {
      if (record.fields[i][0] === name) { record.fields[i][1] = value; return }
    }
    record.fields.push([name, value])
  }

  function newer (a, b) { // versions are whole numbers; '' is "no record yet"
    if (a === null || a === undefined || a === '') return b || ''
    if (b === null || b === undefined || b === '') return a
    return Number(b) > Number(a) ? b : a
  }

  var known = {} // target -> the newest version the server answered with, in this tab

  function newKey () {
    if (window.crypto && window.crypto.randomUUID) return window.crypto.randomUUID()
    var bytes = new Uint8Array(16)
    window.crypto.getRandomValues(bytes)
    return Array.prototype.map.call(bytes, function (b) { return ('0' + b.toString(16)).slice(-2) }).join('')
  }

  // A change to send: {session, target ("row:<id>" or "notes"), attendee, path, fields: [[name, value]], trigger}.
  function record (change) {
    change.key = newKey()
    change.owner = me
    change.state = 'waiting'
    change.made = Date.now()
    return transact(function (records) {
      var before = records.filter(function (r) {
        return r.owner === me && r.session === change.session && r.target === change.target && r.state === 'waiting'
      }).pop()
      change.after = before ? before.key : null
      if (!before && change.target !== 'notes') setField(change, 'version', newer(field(change, 'version'), known[change.target]))
      return { add: [change], result: change }
    }).then(function (kept) { render(); return kept })
  }

  // 2. Sending -----------------------------------------------------------------------------------------------
  var state = { signedOut: false, someoneElse: false, unreachable: false, since: 0, reached: false }
  var token = null // a CSRF token known to belong to the session signed in now
  var askWho = isCopy // this page's token and person may be from a session that has ended
  var running = null
  var again = false
  var timer = null
  var delay = 2000

  function pageToken () {
    var meta = document.querySelector('meta[name="csrf-token"]')
    return meta ? meta.content : ''
  }

  function emit (detail) {
    document.dispatchEvent(new CustomEvent('app:offline', { detail: detail }))
    if (channel) channel.postMessage(detail)
  }

  function locked (work) {
    return navigator.locks ? navigator.locks.request('pd-offline-send', work) : work()
  }

  function send () {
    if (running) { again = true; return running }
    window.clearTimeout(timer)
    timer = null
    running = locked(run).catch(function () {}).then(function () {
      running = null
      render()
      if (again) { again = false; return send() }
    })
    return running
  }

  function later () {
    if (timer) return
    timer = window.setTimeout(function () { timer = null; send() }, delay)
    delay = Math.min(delay * 2, 30000)
  }

  function mineWaiting (records) {
    return records.filter(function (r) { return r.owner === me && r.state === 'waiting' })
  }

  function run () {
    return everything().then(function (records) {
      var waiting = mineWaiting(records)
      if (!waiting.length) return
      state.since = state.since || Date.now()
      return signedInAsMe().then(function (ok) {
        if (ok) return sendEach(waiting.map(function (r) { return r.seq }))
      })
    })
  }

  // Who is signed in now, and their token: asked after a sign-out or an expiry, and on a copy of the page.
  function signedInAsMe () {
    if (!state.signedOut && !state.someoneElse && !askWho) return Promise.resolve(true)
    return fetch(SCOPE + '/offline-token', {
      credentials: 'same-origin', redirect: 'manual', headers: { 'HX-Request': 'true' }, cache: 'no-store'
    }).then(function (response) {
      if (response.status === 204) {
        state.reached = true
        var as = response.headers.get('X-Signed-In-As')
        state.signedOut = false
        state.someoneElse = as !== me
        if (!state.someoneElse) { token = response.headers.get('X-CSRF-Token'); askWho = false }
        state.unreachable = false
        return !state.someoneElse
      }
      if (response.type === 'opaqueredirect' || response.status === 401) {
        state.signedOut = true
        return false
      }
      state.unreachable = true
      later()
      return false
    }, function () {
      state.unreachable = true
      later()
      return false
    })
  }

  function sendEach (seqs) {
    var i = 0
    function next () {
      if (i >= seqs.length) return null
      var seq = seqs[i++]
      return everything().then(function (records) {
        var change = records.filter(function (r) { return r.seq === seq })[0]
        if (!change || change.state !== 'waiting' || change.owner !== me) return next()
        return post(change, false).then(function (goOn) { return goOn ? next() : null })
      })
    }
    return next()
  }

  function post (change, retried) {
    var csrf = token || pageToken()
    var body = new URLSearchParams()
    change.fields.forEach(function (f) { body.append(f[0], f[1]) })
    body.set('csrf_token', csrf)
    body.set('idempotency_key', change.key)
    var headers = {
      'HX-Request': 'true', 'X-CSRFToken': csrf, 'Idempotency-Key': change.key, 'X-Queued-By': change.owner
    }
    if (change.trigger) headers['HX-Trigger-Name'] = change.trigger
    if (change.attendee) headers['X-Register-Row'] = change.attendee
    return fetch(change.path, {
      method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual', headers: headers, cache: 'no-store'
    }).then(function (response) {
      return response.text().then(function (html) { return answered(change, response, html, retried) })
    }, function () {
      return unreachable()
    })
  }

  function unreachable () {
    state.unreachable = true
    later()
    return false
  }

  function answered (change, response, html, retried) {
    var status = response.status
    if (response.type === 'opaqueredirect' || status === 401) {
      state.signedOut = true
      token = null
      return false
    }
    if (status === 403 && response.headers.get('X-Queued-By')) {
      state.someoneElse = true
      return false
    }
    if (status === 400 && response.headers.get('X-CSRF-Token') && !retried) {
      token = response.headers.get('X-CSRF-Token') // signed in again since the page was made: a new token
      return post(change, true)
    }
    if (status === 0 || status >= 500) return unreachable()
    state.reached = true
    state.unreachable = false
    state.since = 0
    delay = 2000
    if (status >= 200 && status < 300) return saved(change, html)
    return needsYou(change, status === 409 ? 'conflict' : 'refused', html, status)
  }

  function parsed (html) {
    return new DOMParser().parseFromString('<template>' + html + '</template>', 'text/html')
      .querySelector('template').content
  }

  function saved (change, html) {
    var answer = parsed(html)
    var produced = null
    if (change.target === 'notes') {
      var seen = answer.querySelector('input[name="seen_notes"]')
      produced = seen ? seen.value : null
    } else {
      var version = answer.querySelector('input[name="version"]')
      produced = version ? version.value : null
      if (produced) known[change.target] = newer(known[change.target], produced)
    }
    emit({ type: 'answered', kind: 'saved', change: change, html: html })
    return transact(function (records) {
      var put = []
      var remove = [change.seq]
      records.forEach(function (r) {
        if (r.owner !== me || r.session !== change.session || r.target !== change.target || r.seq === change.seq) return
        if (r.state !== 'waiting') { remove.push(r.seq); return } // a conflict or refusal of this row: resolved
        if (r.after === change.key && produced !== null) {
          setField(r, change.target === 'notes' ? 'seen_notes' : 'version', produced)
          r.after = null
          put.push(r)
        }
      })
      return { put: put, remove: remove }
    }).then(function () {
      copyChanged(change.session)
      return true
    })
  }

  function needsYou (change, kind, html, status) {
    emit({ type: 'answered', kind: kind, change: change, html: html, status: status })
    return transact(function (records) {
      var put = []
      records.forEach(function (r) {
        if (r.owner === me && r.session === change.session && r.target === change.target && r.state === 'waiting' &&
            r.seq >= change.seq) {
          r.state = kind
          r.status = status
          put.push(r)
        }
      })
      return { put: put }
    }).then(function () { return true })
  }

  // What is waiting for one session (the register shows it), and letting go of a conflict the person settled.
  function forSession (session) {
    return everything().then(function (records) {
      return records.filter(function (r) { return r.owner === me && r.session === session })
    })
  }

  function settle (session, target) {
    return transact(function (records) {
      return {
        remove: records.filter(function (r) {
          return r.owner === me && r.session === session && r.target === target && r.state !== 'waiting'
        }).map(function (r) { return r.seq })
      }
    }).then(render)
  }

  // Ask the server again for the answer to a change that needs the person (to show a conflict side by side):
  // a stale version is refused again, nothing is written.
  function answerFor (change) {
    var csrf = token || pageToken()
    var body = new URLSearchParams()
    change.fields.forEach(function (f) { body.append(f[0], f[1]) })
    body.set('csrf_token', csrf)
    return fetch(change.path, {
      method: 'POST', body: body, credentials: 'same-origin', redirect: 'manual', cache: 'no-store',
      headers: { 'HX-Request': 'true', 'X-CSRFToken': csrf, 'Idempotency-Key': change.key, 'X-Queued-By': change.owner }
    }).then(function (response) {
      if (response.status !== 409 && response.status !== 422) return null
      return response.text()
    }, function () { return null })
  }

  // 4. The banner --------------------------------------------------------------------------------------------
  var banner = null
  var drawing = null

  function bannerElement () {
    if (banner) return banner
    banner = document.getElementById('offline-status')
    if (!banner) {
      var main = document.getElementById('main-content')
      if (!main) return null
      banner = document.createElement('div')
      banner.id = 'offline-status'
      banner.className = 'app-offline-status'
      banner.setAttribute('role', 'status')
      banner.setAttribute('aria-live', 'polite')
      banner.hidden = true
      main.insertBefore(banner, main.firstChild)
    }
    return banner
  }

  function line (text, link) {
    var p = document.createElement('p')
    p.className = 'app-offline-status__line'
    p.textContent = text
    if (link) {
      var a = document.createElement('a')
      a.className = 'govuk-link'
      a.href = link.href
      a.textContent = link.text
      if (link.newTab) { a.target = '_blank'; a.rel = 'noopener' }
      p.appendChild(document.createTextNode(' '))
      p.appendChild(a)
    }
    return p
  }

  function render () {
    if (drawing) return drawing
    drawing = everything().then(function (records) {
      drawing = null
      var el = bannerElement()
      if (!el) return
      var mine = records.filter(function (r) { return r.owner === me })
      var waiting = mine.filter(function (r) { return r.state === 'waiting' })
      var dead = mine.filter(function (r) { return r.state !== 'waiting' && [403, 404, 413].indexOf(r.status) >= 0 })
      var stuck = mine.filter(function (r) { return r.state !== 'waiting' && dead.indexOf(r) < 0 })
      var others = records.length - mine.length
      var onRegister = document.querySelector('.app-register-page[data-session]')
      var lines = []
      var n = waiting.length
      if (n && state.signedOut) {
        lines.push(line(say(WORDS.signedOut, n), {
          href: ROOT + '/login', text: onRegister ? WORDS.signInNewTab : WORDS.signIn, newTab: !!onRegister
        }))
      } else if (n && state.someoneElse) {
        lines.push(line(say(WORDS.someoneElse, n)))
      } else if (n && !navigator.onLine) {
        lines.push(line(say(WORDS.offline, n)))
      } else if (n && state.unreachable) {
        lines.push(line(say(WORDS.unreachable, n)))
      } else if (n && state.since && Date.now() - state.since > 1500) {
        lines.push(line(say(WORDS.sending, n)))
      } else if (n) {
        window.setTimeout(render, 1600) // a moment's sending needs no banner
      }
      if (stuck.length) {
        var here = onRegister && stuck.every(function (r) { return String(r.session) === onRegister.dataset.session })
        lines.push(line(say(here ? WORDS.needsYouHere : WORDS.needsYou, stuck.length),
          here ? null : { href: stuck[0].path.replace(/\/(attendees\/[0-9]+|notes)$/, ''), text: WORDS.openRegister }))
      }
      if (dead.length) {
        var p = line(say(WORDS.cannot, dead.length))
        var b = document.createElement('button')
        b.type = 'button'
        b.className = 'govuk-button govuk-button--secondary app-offline-status__button'
        b.textContent = say(WORDS.forget, dead.length)
        b.addEventListener('click', function () {
          transact(function () { return { remove: dead.map(function (r) { return r.seq }) } }).then(render)
        })
        p.appendChild(document.createTextNode(' '))
        p.appendChild(b)
        lines.push(p)
      }
      if (others) lines.push(line(say(WORDS.others, others)))
      var copy = document.querySelector('[data-offline-copy]')
      if (copy && state.reached && navigator.onLine && !n && !stuck.length && !state.signedOut && !state.someoneElse) {
        lines.push(line(WORDS.backOnline, { href: location.href, text: onRegister ? WORDS.reload : WORDS.reloadList }))
      }
      el.textContent = ''
      lines.forEach(function (p) { el.appendChild(p) })
      el.hidden = lines.length === 0
      el.classList.toggle('app-offline-status--offline', !navigator.onLine)
      document.documentElement.classList.toggle('app-offline', !navigator.onLine)
    }, function () { drawing = null })
    return drawing
  }

  // 5. Privacy on a shared tablet ----------------------------------------------------------------------------
  function forgetOthersCopies () {
    if (!window.caches) return Promise.resolve()
    return caches.keys().then(function (names) {
      return Promise.all(names.filter(function (name) {
        return name.indexOf(COPIES) === 0 && name !== COPIES + me
      }).map(function (name) { return caches.delete(name) }))
    })
  }

  function signOut (form) {
    return everything().then(function (records) {
      var mine = records.filter(function (r) { return r.owner === me })
      if (mine.length && navigator.onLine) {
        return Promise.race([send(), new Promise(function (resolve) { window.setTimeout(resolve, 8000) })])
          .then(everything)
      }
      return records
    }).then(function (records) {
      var mine = records.filter(function (r) { return r.owner === me })
      if (!mine.length) return leave(form, records.length > 0)
      return ask(mine.length).then(function (choice) {
        if (choice === 'keep') return leave(form, true)
        if (choice === 'discard') {
          return transact(function (all) {
            return { remove: all.filter(function (r) { return r.owner === me }).map(function (r) { return r.seq }) }
          }).then(function () { return leave(form, records.length > mine.length) })
        }
      })
    })
  }

  function leave (form, keepSomeChanges) {
    var forget = window.caches ? caches.delete(COPIES + me) : Promise.resolve()
    return forget.then(function () {
      if (keepSomeChanges) {
        var keep = document.createElement('input')
        keep.type = 'hidden'
        keep.name = 'keep_waiting_changes'
        keep.value = 'y'
        form.appendChild(keep)
      }
      form.submit() // no submit event: this handler is not asked again
    })
  }

  function ask (n) {
    return new Promise(function (resolve) {
      var dialog = document.createElement('dialog')
      dialog.className = 'app-offline-dialog'
      dialog.setAttribute('aria-labelledby', 'offline-dialog-title')
      var title = document.createElement('h2')
      title.className = 'govuk-heading-m'
      title.id = 'offline-dialog-title'
      title.textContent = WORDS.askTitle
      dialog.appendChild(title)
      var offline = !navigator.onLine
      var text = document.createElement('p')
      text.className = 'govuk-body'
      text.textContent = say(offline ? WORDS.askOffline : WORDS.ask, n)
      dialog.appendChild(text)
      var group = document.createElement('div')
      group.className = 'govuk-button-group app-offline-dialog__choices'
      function button (label, choice, kind, hint) {
        var b = document.createElement('button')
        b.type = 'button'
        b.className = 'govuk-button' + (kind ? ' govuk-button--' + kind : '')
        b.textContent = label
        b.addEventListener('click', function () { dialog.close(); dialog.remove(); resolve(choice) })
        group.appendChild(b)
        if (hint) {
          var h = document.createElement('p')
          h.className = 'govuk-hint app-offline-dialog__hint'
          h.textContent = hint
          group.appendChild(h)
        }
      }
      if (offline) {
        button(WORDS.close, 'stay')
      } else {
        button(WORDS.stay, 'stay')
        button(WORDS.keep, 'keep', 'secondary', WORDS.keepHint)
        button(WORDS.discard, 'discard', 'warning', WORDS.discardHint)
      }
      dialog.appendChild(group)
      dialog.addEventListener('cancel', function () { dialog.remove(); resolve('stay') })
      document.body.appendChild(dialog)
      dialog.showModal()
    })
  }

  document.addEventListener('submit', function (event) {
    var form = event.target
    if (!form.matches || !form.matches('.app-header__sign-out-form')) return
    event.preventDefault()
    signOut(form)
  })

  // 6. Copies for offline use --------------------------------------------------------------------------------
  function worker () {
    if (!('serviceWorker' in navigator)) return Promise.reject(new Error('no service worker'))
    return navigator.serviceWorker.register(SCOPE + '/offline-worker.js', { scope: SCOPE })
      .then(function () { return navigator.serviceWorker.ready })
  }

  function keepCopy (cache, url) {
    return fetch(url, { credentials: 'same-origin', redirect: 'manual', cache: 'no-store', headers: { 'X-Offline-Copy': '1' } })
      .then(function (response) {
        // Only a page rendered as a copy (no details of a restricted person) is ever kept.
        if (!response.ok || response.headers.get('X-Offline-Copy') !== '1') return null
        var kept = response.clone()
        return response.text().then(function (html) {
          return cache.put(url, kept).then(function () { return html })
        })
      })
  }

  // What the kept pages need offline: the scripts, styles and images they name, and the fonts and images their
  // styles name.
  function keepStaticFiles (htmls) {
    var files = {}
    function add (ref, base) {
      var url = new URL(ref.replace(/^['"]|['"]$/g, ''), base)
      if (url.origin === location.origin && url.pathname.indexOf(ROOT + '/static/') === 0) files[url.pathname] = true
    }
    performance.getEntriesByType('resource').forEach(function (entry) { add(entry.name, location.href) })
    htmls.forEach(function (html) {
      var found = /(?:src|href)="([^"]*\/static\/[^"]+)"/g
      var m
      while ((m = found.exec(html || ''))) add(m[1], location.href)
    })
    return caches.open('pd-static').then(function (cache) {
      function keep (path) {
        return fetch(path, { credentials: 'same-origin' }).then(function (response) {
          if (!response.ok) return null
          var kept = response.clone()
          return cache.put(path, kept).then(function () { return /\.css$/.test(path) ? response.text() : null })
        }).catch(function () { return null })
      }
      var first = Object.keys(files)
      return Promise.all(first.map(function (path) {
        return keep(path).then(function (css) {
          var found = /url\(([^)]+)\)/g
          var m
          var more = []
          while (css && (m = found.exec(css))) {
            if (!/^['"]?data:/.test(m[1])) more.push(new URL(m[1].replace(/^['"]|['"]$/g, ''), location.origin + path).pathname)
          }
          return Promise.all(more.filter(function (p) { return !files[p] && p.indexOf(ROOT + '/static/') === 0 })
            .map(function (p) { files[p] = true; return keep(p) }))
        })
      }))
    })
  }

  function keepForOffline (links) {
    var urls = [SCOPE].concat(links.map(function (a) { return new URL(a.href).pathname }))
    return worker().then(function () { return caches.open(COPIES + me) }).then(function (cache) {
      var htmls = []
      return urls.reduce(function (done, url) {
        return done.then(function () { return keepCopy(cache, url) }).then(function (html) { htmls.push(html) })
      }, Promise.resolve()).then(function () {
        return cache.keys().then(function (requests) { // registers no longer in the next 7 days
          return Promise.all(requests.filter(function (request) {
            return urls.indexOf(new URL(request.url).pathname) < 0
          }).map(function (request) { return cache.delete(request) }))
        })
      }).then(function () { return keepStaticFiles(htmls) })
    }).then(function () {
      var kept = document.getElementById('offline-kept')
      if (kept) kept.hidden = false
    }).catch(function () {})
  }

  var refreshing = {}

  // A register that changed (or was opened) on a connection: its copy, if one is kept, is made again.
  function copyChanged (session) {
    if (!window.caches || refreshing[session]) return
    refreshing[session] = window.setTimeout(function () {
      delete refreshing[session]
      var url = SCOPE + '/' + session
      caches.has(COPIES + me).then(function (has) {
        if (!has) return
        return caches.open(COPIES + me).then(function (cache) {
          return cache.match(url).then(function (old) { if (old) return keepCopy(cache, url) })
        })
      }).catch(function () {})
    }, 1000)
  }

  // Offline, a link to a page that is not kept says so instead of failing.
  document.addEventListener('click', function (event) {
    if (navigator.onLine || event.defaultPrevented) return
    var a = event.target.closest && event.target.closest('a[href]')
    if (!a || a.target || a.hasAttribute('download')) return
    var url = new URL(a.href, location.href)
    if (url.origin !== location.origin || (url.pathname === location.pathname && url.hash)) return
    if (navigator.serviceWorker && navigator.serviceWorker.controller && url.pathname.indexOf(SCOPE) === 0) return
    event.preventDefault()
    var el = bannerElement()
    if (!el) return
    el.textContent = ''
    el.appendChild(line(WORDS.needsConnection))
    el.hidden = false
  })

  // 3. When to send ------------------------------------------------------------------------------------------
  window.addEventListener('online', function () {
    delay = 2000
    state.unreachable = false
    render()
    send()
  })
  window.addEventListener('offline', render)
  document.addEventListener('visibilitychange', function () {
    if (document.visibilityState === 'visible') send()
  })
  if (channel) {
    channel.onmessage = function (message) {
      var detail = message.data || {}
      if (detail.type === 'signed-in' && detail.user === me) {
        state.signedOut = false
        state.someoneElse = false
        token = null
        askWho = true // this page's token may be from the session that ended: ask for the new one
        send()
      } else if (detail.type === 'signed-in') {
        state.someoneElse = true
      } else if (detail.type === 'answered') {
        if (detail.change && detail.change.owner === me) {
          state.reached = true // another tab reached the server for this person
          state.signedOut = false
        }
        detail.remote = true
        document.dispatchEvent(new CustomEvent('app:offline', { detail: detail }))
      }
      render()
    }
  }

  window.App = window.App || {}
  window.App.offline = {
    me: me, isCopy: isCopy, record: record, send: send, forSession: forSession, settle: settle,
    answerFor: answerFor, render: render, field: field
  }

  // An offline copy opened on a later day says which day it is from.
  var copy = document.querySelector('[data-offline-copy]')
  if (copy) {
    var today = new Date()
    var iso = today.getFullYear() + '-' + ('0' + (today.getMonth() + 1)).slice(-2) + '-' + ('0' + today.getDate()).slice(-2)
    var time = copy.querySelector('.app-offline-copy__time')
    if (time && copy.dataset.offlineCopy !== iso) time.textContent += ' on ' + copy.dataset.offlineCopyDay
    // "Not started yet" was true when the copy was made; the device's clock says whether it still is.
    Array.prototype.forEach.call(document.querySelectorAll('[data-offline-until]'), function (el) {
      if (new Date(el.dataset.offlineUntil) <= today) el.hidden = true
    })
  }

  forgetOthersCopies()
  if (!isCopy && channel) channel.postMessage({ type: 'signed-in', user: me })
  if (!isCopy && navigator.onLine) {
    var links = Array.prototype.slice.call(document.querySelectorAll('a[data-offline-keep]'))
    var register = document.querySelector('.app-register-page[data-session]')
    if (links.length || document.getElementById('offline-kept')) keepForOffline(links)
    else if (register) worker().catch(function () {})
  }
  render()
  send()
})()
