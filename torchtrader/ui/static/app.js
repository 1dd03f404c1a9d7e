// Draws every server-provided figure with the bundled plotly.js and keeps the overview live (SSE).
(function () {
  "use strict";
  var config = { responsive: true, displaylogo: false };
  document.querySelectorAll("[data-figure]").forEach(function (el) {
    var source = document.getElementById(el.getAttribute("data-figure"));
    if (!source || typeof Plotly === "undefined") { return; }
    var fig = JSON.parse(source.textContent);
    Plotly.newPlot(el, fig.data, fig.layout, config);
  });
  var select = document.getElementById("bot-select");
  if (select) {
    select.addEventListener("change", function () {
      var chart = document.getElementById(select.getAttribute("data-chart"));
      if (!chart || !chart.data) { return; }
      var visible = chart.data.map(function (t) { return !select.value || t.name === select.value; });
      Plotly.restyle(chart, { visible: visible });
    });
  }
  var table = document.getElementById("bots");
  if (table && window.EventSource) {
    var status = document.getElementById("live-status");
    var events = new EventSource("/api/v1/stream");
    events.addEventListener("bots", function (message) {
      JSON.parse(message.data).forEach(function (bot) {
        var row = table.querySelector('tr[data-bot="' + CSS.escape(bot.name) + '"]');
        if (!row) { return; }
        var set = function (field, text) { var cell = row.querySelector('[data-field="' + field + '"]'); if (cell) { cell.textContent = text; } };
        set("state", bot.state);
        row.querySelector('[data-field="state"]').className = "state state-" + bot.state;
        set("equity", bot.equity.toFixed(2));
        set("pnl_today", (bot.pnl_today >= 0 ? "+" : "") + bot.pnl_today.toFixed(2));
        set("pnl_total", (bot.pnl_total >= 0 ? "+" : "") + bot.pnl_total.toFixed(2));
        set("positions", String(bot.positions));
        set("alerts_24h", String(bot.alerts_24h));
      });
      if (status) { status.textContent = "live · updated " + new Date().toLocaleTimeString(); }
    });
  }
})();
