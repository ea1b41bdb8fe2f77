// Progressive enhancement only: every page works without this file.
// Elements with data-poll="URL" are refreshed from URL (an HTML fragment) every second until the
// fragment says data-final="true" — used by the import progress bar.
(function () {
  function poll(el) {
    var url = el.getAttribute("data-poll");
    fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
      .then(function (html) {
        el.innerHTML = html;
        var done = el.querySelector("[data-final='true']");
        if (!done) { setTimeout(function () { poll(el); }, 1000); }
      })
      .catch(function () { setTimeout(function () { poll(el); }, 3000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll]").forEach(function (el) {
      if (!el.querySelector("[data-final='true']")) { setTimeout(function () { poll(el); }, 500); }
    });
    var summary = document.getElementById("error-summary");
    if (summary) { summary.focus(); }
  });
})();
