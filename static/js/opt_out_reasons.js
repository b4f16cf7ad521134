// Draws List Health → Opt-Out Reasons from the data the page embeds with json_script.
// The server decides order, labels and colours (one mapping, in contacts/screens.py).
"use strict";

(function () {
  const source = document.getElementById("opt-out-reasons");
  const canvas = document.getElementById("opt-out-reasons-chart");
  if (!source || !canvas || typeof Chart === "undefined") {
    return; // an empty period has no canvas: the page says so in words
  }
  const data = JSON.parse(source.textContent);
  const textColor = getComputedStyle(document.body).getPropertyValue("--body-fg").trim() || "#333";

  new Chart(canvas, {
    type: "doughnut",
    data: {
      labels: data.reasons.map((r) => r.label),
      datasets: [
        {
          label: "Opt-outs",
          data: data.reasons.map((r) => r.count),
          backgroundColor: data.reasons.map((r) => r.color),
          borderWidth: 1,
        },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: true,
      animation: false,
      plugins: {
        legend: { position: "bottom", labels: { color: textColor } },
        tooltip: {
          callbacks: {
            label: (item) => {
              const row = data.reasons[item.dataIndex];
              return ` ${row.label}: ${row.count.toLocaleString()} (${row.percent}%)`;
            },
          },
        },
      },
    },
  });
})();
