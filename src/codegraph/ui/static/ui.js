// Keyboard: "/" focuses the search box (unless typing somewhere already).
"use strict";
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
  var active = document.activeElement;
  var tag = active ? active.tagName : "";
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (active && active.isContentEditable)) return;
  var box = document.getElementById("q");
  if (box) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});
// The confidence filter applies as soon as it is chosen.
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("min-confidence");
  if (select && select.form) select.addEventListener("change", function () { select.form.submit(); });
});
