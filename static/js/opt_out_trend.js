// Draws a list's opt-outs per day (or week) from the data the page embeds with json_script.
"use strict";

(function () {
  const source = document.getElementById("opt-out-trend");
  const canvas = document.getElementById("opt-out-trend-chart");
  if (!source || !canvas || typeof Chart === "undefined") {
    return;
  }
  const trend = JSON.parse(source.textContent);
  const styles = getComputedStyle(document.body);
  const textColor = styles.getPropertyValue("--body-fg").trim() || "#333";
  const barColor = styles.getPropertyValue("--secondary").trim() || "#417690";

  new Chart(canvas, {
    type: "bar",
    data: {
      labels: trend.points.map((p) => p.start),
      datasets: [{ label: `Opt-outs per ${trend.unit}`, data: trend.points.map((p) => p.count), backgroundColor: barColor }],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: {
        x: { ticks: { color: textColor, maxRotation: 0, autoSkip: true } },
        y: { beginAtZero: true, ticks: { color: textColor, precision: 0 } },
      },
      plugins: { legend: { display: false } },
    },
  });
})();
