// The crew console's alert list refreshes itself (api/console/pages.py): every data-poll-s
// seconds while the page is visible it asks data-src for the list again, with the last ETag,
// and swaps in the new HTML (rendered and escaped by the server). 401: the session has ended.
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) { return; }
  var every = Math.max(1, Number(board.getAttribute("data-poll-s")) || 5) * 1000;
  var source = board.getAttribute("data-src");
  var etag = null;
  var timer = null;

  function later() {
    clearTimeout(timer);
    timer = setTimeout(poll, every);
  }

  function poll() {
    if (document.hidden) { return; }
    var headers = {"Accept": "text/html"};
    if (etag) { headers["If-None-Match"] = etag; }
    fetch(source, {headers: headers, credentials: "same-origin", cache: "no-store"})
      .then(function (answer) {
        if (answer.status === 401) { window.location.assign("/console/signin"); return null; }
        if (answer.status !== 200) { return null; }
        etag = answer.headers.get("ETag");
        return answer.text();
      })
      .then(function (html) { if (typeof html === "string") { board.innerHTML = html; } })
      .catch(function () { /* offline for a moment: try again later */ })
      .then(later);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) { poll(); }
  });
  later();
})();
