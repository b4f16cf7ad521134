// Keeps an audience filter's "Sendable numbers now" up to date while staff edit its criteria.
"use strict";

// Loaded in the admin's <head> with the form's media: wait for the form.
document.addEventListener("DOMContentLoaded", function () {
  const output = document.getElementById("audience-count");
  const form = document.getElementById("savedfilter_form");
  if (!output || !form) {
    return;
  }
  const names = ["lists", "opted_in_after", "opted_in_before", "carrier", "has_email", "last_opt_in_source"];
  let pending = null;

  function criteria() {
    const params = new URLSearchParams();
    for (const name of names) {
      const field = form.elements[name];
      if (!field) {
        continue;
      }
      if (field.multiple) {
        for (const option of field.options) {
          // filter_horizontal moves chosen lists to a select of its own; its options are the choice.
          if (option.selected || field.id.endsWith("_to")) {
            params.append(name, option.value);
          }
        }
      } else if (field.value) {
        params.append(name, field.value);
      }
    }
    return params;
  }

  async function refresh() {
    const response = await fetch(`${output.dataset.countUrl}?${criteria()}`, { credentials: "same-origin" });
    const body = await response.json();
    output.textContent = response.ok ? body.count.toLocaleString("en-US") : "—";
  }

  function soon() {
    clearTimeout(pending);
    pending = setTimeout(() => refresh().catch(() => (output.textContent = "—")), 300);
  }

  form.addEventListener("change", soon);
  form.addEventListener("input", soon);
  // filter_horizontal's buttons and double-clicks move options without a change event.
  form.addEventListener("click", (event) => {
    if (event.target.closest(".selector-chooser, .selector-chooseall, .selector-clearall")) {
      soon();
    }
  });
  form.addEventListener("dblclick", (event) => {
    if (event.target.closest(".selector")) {
      soon();
    }
  });
  soon();
});
