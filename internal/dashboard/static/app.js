// Enclave dashboard: the little that needs a script. Every page works
// without it; this only adds confirmation dialogs and live refresh.
"use strict";

// Forms with data-confirm ask before they are sent.
document.addEventListener("submit", function (ev) {
  var msg = ev.target.getAttribute && ev.target.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});

// An element #live with data-live="N" is reloaded every N seconds while the
// page shows something in progress; the new copy says whether to go on.
(function () {
  function schedule() {
    var el = document.getElementById("live");
    if (!el || !el.hasAttribute("data-live")) return;
    var secs = parseInt(el.getAttribute("data-live"), 10) || 3;
    setTimeout(refresh, secs * 1000);
  }
  function refresh() {
    if (document.hidden) { schedule(); return; }
    fetch(window.location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var old = document.getElementById("live");
        if (fresh && old) old.replaceWith(document.importNode(fresh, true));
        schedule();
      })
      .catch(function () { /* keep the page as it is; the refresh link still works */ });
  }
  schedule();
})();
