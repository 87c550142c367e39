// My exports: the bars of running exports move with their WebSocket (a status token in data-events);
// when one ends, the page is read again so its row shows the download or the reason. No framework.
(function () {
  "use strict";
  var TERMINAL = {succeeded: true, failed: true, canceled: true};
  var reloading = false;
  function reload() {
    if (reloading) return;
    reloading = true;
    setTimeout(function () { location.reload(); }, 300);
  }
  function follow(item) {
    var path = item.dataset.events, failures = 0, cursor = "";
    var bar = item.querySelector("progress"), percent = item.querySelector("[data-field=percent]");
    var phase = item.querySelector("[data-field=phase]"), status = item.querySelector("[data-field=status]");
    function show(e) {
      if (e.cursor) cursor = e.cursor;
      if (typeof e.overall === "number" && bar) { bar.value = e.overall; percent.textContent = e.overall; }
      if (phase) phase.textContent = e.event === "progress" && typeof e.rows === "number" ?
        "reading, " + e.rows.toLocaleString() + " rows" : e.event;
      if (status && e.event !== "queued") status.textContent = TERMINAL[e.event] ? e.event : "running";
      if (TERMINAL[e.event]) reload();
    }
    function connect() {
      var scheme = location.protocol === "https:" ? "wss://" : "ws://";
      var socket = new WebSocket(scheme + location.host + path + (cursor ? "&after=" + encodeURIComponent(cursor) : ""));
      socket.onopen = function () { failures = 0; };
      socket.onmessage = function (m) { show(JSON.parse(m.data)); };
      socket.onclose = function () {
        failures += 1;
        if (!reloading && failures < 5) setTimeout(connect, 1000 * failures);
      };
    }
    connect();
  }
  var items = document.querySelectorAll("[data-events]");
  for (var i = 0; i < items.length; i++) follow(items[i]);
})();
