/* Keeps a signed-in session from idling out while a page that is used for a long time stays open and visible
   (the attendance register during a 150-minute session). It only sends a signed-in ping; it never saves. */
(function () {
  "use strict";
  var INTERVAL = 5 * 60 * 1000;
  var token = document.querySelector('meta[name="csrf-token"]');
  function ping() {
    if (document.visibilityState !== "visible") { return; }
    fetch("/keep-alive", {
      method: "POST", credentials: "same-origin",
      headers: { "X-CSRFToken": token ? token.content : "" }
    }).catch(function () { /* offline: the register's own retry covers saves */ });
  }
  setInterval(ping, INTERVAL);
  document.addEventListener("visibilitychange", ping);
})();
