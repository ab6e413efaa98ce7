// A form posted after the console session had ended, put back as it was typed, once the
// person has logged in again (app/console/kept.py keeps its fields, passwords left out).
"use strict";

(() => {
  const data = document.getElementById("restored-form");
  if (!data) return;
  const { action, fields } = JSON.parse(data.textContent);
  const form = [...document.forms].find(
    (f) => new URL(f.action, location.href).pathname === action,
  );
  if (!form) return;
  const skipped = ["hidden", "file", "password", "submit", "button"];
  for (const element of form.elements) {
    if (!element.name || skipped.includes(element.type)) continue;
    const values = fields.filter(([name]) => name === element.name).map(([, value]) => value);
    if (element.type === "checkbox" || element.type === "radio") {
      element.checked = values.includes(element.value); // a box left unticked is not posted
    } else if (element.multiple) {
      for (const option of element.options) option.selected = values.includes(option.value);
    } else if (values.length) {
      element.value = values[0];
    }
  }
  for (let parent = form.parentElement; parent; parent = parent.parentElement) {
    if (parent.tagName === "DETAILS") parent.open = true;
  }
  const banner = document.getElementById("restored-banner");
  banner.hidden = false;
  form.scrollIntoView({ block: "center" });
})();
