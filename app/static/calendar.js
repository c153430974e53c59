/*
 * Calendar: drag a session to another day to postpone it (mouse, pen or finger).
 *
 * Native Pointer Events, no library. The whole session card can be dragged, with a mouse, a pen or a finger (its
 * grip, the handle, is only the visible cue; a movable card does not scroll the page under a finger, the gaps
 * between cards and the days' headings do, and a drag near the window's edge scrolls it). Dropping on a day asks the server
 * for the preview of what would move (the session at the same time on that day) and shows it in a dialog; nothing
 * changes until the person confirms there. Every session also has a "Postpone" link: the same preview without
 * dragging (WCAG 2.2 2.5.7 Dragging movements).
 *
 * Event delegation on the document, so it keeps working after htmx swaps the calendar (week to week, or when a
 * reschedule finishes and the calendar redraws itself). No inline code: loaded with the page's CSP nonce.
 */
(function () {
  'use strict'

  var DRAG_THRESHOLD = 6 // px a pointer must travel before a press becomes a drag
  var EDGE = 48 // px from the top or bottom of the window where a drag scrolls the page

  var drag = null
  var returnFocusTo = null

  function dialog () { return document.getElementById('calendar-dialog') }
  function dialogBody () { return document.getElementById('calendar-dialog-body') }

  function canReschedule (el) {
    var calendar = el.closest('#calendar')
    return calendar && calendar.getAttribute('data-can-reschedule') === 'true'
  }

  function dayAt (x, y) {
    var el = document.elementFromPoint(x, y)
    var day = el && el.closest('[data-drop-date]')
    return day && day.closest('#calendar') ? day : null
  }

  function setTarget (day) {
    if (drag.target === day) return
    if (drag.target) drag.target.classList.remove('app-calendar__day--drop-target')
    drag.target = day
    if (day) day.classList.add('app-calendar__day--drop-target')
  }

  function placeGhost (x, y) {
    drag.ghost.style.transform = 'translate(' + (x - drag.offsetX) + 'px, ' + (y - drag.offsetY) + 'px)'
  }

  function startDragging (event) {
    var rect = drag.item.getBoundingClientRect()
    var ghost = drag.item.cloneNode(true)
    ghost.removeAttribute('id')
    ghost.setAttribute('aria-hidden', 'true')
    ghost.classList.add('app-session--ghost')
    ghost.style.width = rect.width + 'px'
    drag.offsetX = drag.startX - rect.left
    drag.offsetY = drag.startY - rect.top
    drag.ghost = ghost
    drag.dragging = true
    document.body.appendChild(ghost)
    document.body.classList.add('app-calendar-dragging')
    drag.item.classList.add('app-session--dragging')
    placeGhost(event.clientX, event.clientY)
  }

  // Near the top or bottom of the window the page scrolls for as long as the pointer stays there, so a day
  // below the fold (the next weeks of a month) can be reached in one drag.
  function autoScroll () {
    if (!drag || !drag.dragging) return
    var y = drag.lastY
    var step = y < EDGE ? -14 : (y > window.innerHeight - EDGE ? 14 : 0)
    if (step) {
      window.scrollBy(0, step)
      setTarget(dayAt(drag.lastX, drag.lastY))
    }
    drag.scrolling = window.requestAnimationFrame(autoScroll)
  }

  function onPointerDown (event) {
    if (drag || event.button !== 0 || !event.isPrimary) return
    var item = event.target.closest('.app-session--movable[data-postpone-url]')
    if (!item || !canReschedule(item)) return
    if (event.target.closest('a, button, input, select, textarea')) return
    drag = {
      item: item, pointerId: event.pointerId, startX: event.clientX, startY: event.clientY,
      dragging: false, target: null, ghost: null
    }
    event.preventDefault() // no text selection (mouse) and no scrolling (finger on the card) while dragging
    document.addEventListener('pointermove', onPointerMove, { passive: false })
    document.addEventListener('pointerup', onPointerUp)
    document.addEventListener('pointercancel', cancel)
    document.addEventListener('keydown', onKeyDown)
  }

  function onPointerMove (event) {
    if (!drag || event.pointerId !== drag.pointerId) return
    if (!drag.dragging) {
      var moved = Math.abs(event.clientX - drag.startX) + Math.abs(event.clientY - drag.startY)
      if (moved < DRAG_THRESHOLD) return
      startDragging(event)
    }
    event.preventDefault()
    drag.lastX = event.clientX
    drag.lastY = event.clientY
    placeGhost(event.clientX, event.clientY)
    setTarget(dayAt(event.clientX, event.clientY))
    if (!drag.scrolling) drag.scrolling = window.requestAnimationFrame(autoScroll)
  }

  function onPointerUp (event) {
    if (!drag || event.pointerId !== drag.pointerId) return
    var dropped = drag.dragging ? dayAt(event.clientX, event.clientY) : null
    var item = drag.item
    finish()
    if (!dropped) return
    var date = dropped.getAttribute('data-drop-date')
    if (date === item.getAttribute('data-session-date')) return
    askForPreview(item, date)
  }

  function onKeyDown (event) {
    if (event.key === 'Escape') cancel()
  }

  function cancel () { finish() }

  function finish () {
    if (!drag) return
    if (drag.target) drag.target.classList.remove('app-calendar__day--drop-target')
    if (drag.ghost) drag.ghost.remove()
    if (drag.scrolling) window.cancelAnimationFrame(drag.scrolling)
    drag.item.classList.remove('app-session--dragging')
    document.body.classList.remove('app-calendar-dragging')
    document.removeEventListener('pointermove', onPointerMove, { passive: false })
    document.removeEventListener('pointerup', onPointerUp)
    document.removeEventListener('pointercancel', cancel)
    document.removeEventListener('keydown', onKeyDown)
    drag = null
  }

  function askForPreview (item, date) {
    var box = dialog()
    var body = dialogBody()
    if (!box || !body || !window.htmx) return
    returnFocusTo = item
    body.innerHTML = ''
    var heading = document.createElement('h2')
    heading.className = 'govuk-heading-m'
    heading.id = 'calendar-dialog-title'
    heading.textContent = 'Working out what would move…'
    body.appendChild(heading)
    open(box)
    window.htmx.ajax('GET', item.getAttribute('data-postpone-url'), {
      target: '#calendar-dialog-body', swap: 'innerHTML', values: { date: date, dialog: '1' }
    })
  }

  function open (box) {
    if (!box.open) {
      if (typeof box.showModal === 'function') box.showModal()
      else box.setAttribute('open', '')
    }
  }

  function close (box) {
    if (box.open) {
      if (typeof box.close === 'function') box.close()
      else box.removeAttribute('open')
    }
  }

  // Cancel / Close inside the dialog close it (the same links go back to the calendar without JavaScript).
  document.addEventListener('click', function (event) {
    var closer = event.target.closest('[data-dialog-close]')
    var box = closer && closer.closest('dialog')
    if (!box) return
    event.preventDefault()
    close(box)
  })

  document.addEventListener('close', function (event) {
    if (event.target !== dialog()) return
    var item = returnFocusTo && returnFocusTo.id && document.getElementById(returnFocusTo.id)
    var focusable = item && (item.querySelector('a') || item)
    if (focusable) {
      if (window.App && window.App.makeFocusable) window.App.makeFocusable(focusable)
      focusable.focus()
    }
    returnFocusTo = null
  }, true)

  // A failed request for the preview still says something in the dialog.
  document.addEventListener('htmx:responseError', function (event) {
    var body = dialogBody()
    if (!body || !body.contains(event.detail.target)) return
    body.innerHTML = ''
    var heading = document.createElement('h2')
    heading.className = 'govuk-heading-m'
    heading.id = 'calendar-dialog-title'
    heading.textContent = 'Sorry, that did not work'
    var text = document.createElement('p')
    text.className = 'govuk-body'
    text.textContent = 'Nothing has been moved. Try again, or use the session\u2019s Postpone link.'
    body.appendChild(heading)
    body.appendChild(text)
  })

  document.addEventListener('pointerdown', onPointerDown)

  // A finger dragging a session belongs to the page: its moves are consumed here, so the browser does not also
  // take them for a scroll gesture. touch-action already stops the page scrolling, but without this Chromium
  // still reads a quick drop as a fling, and the next tap (Confirm, in the dialog) only stops that invisible
  // fling and clicks nothing.
  document.addEventListener('touchmove', function (event) {
    if (drag && event.cancelable) event.preventDefault()
  }, { passive: false })
})()
