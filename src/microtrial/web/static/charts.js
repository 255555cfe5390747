// Draws the page's Plotly chart from the JSON in #chart-data (plotly.min.js is served locally).
(function () {
  "use strict";
  function draw() {
    var holder = document.getElementById("chart");
    var data = document.getElementById("chart-data");
    if (!holder || !data || !window.Plotly) { return; }
    var spec = JSON.parse(data.textContent);
    window.Plotly.newPlot(holder, spec.data, spec.layout, { responsive: true, displaylogo: false });
    holder.setAttribute("data-drawn", "true");
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", draw); }
  else { draw(); }
})();
