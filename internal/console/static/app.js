// Nigehban console: the only script, loaded same-origin (no inline script
// is allowed by the Content-Security-Policy). It asks for confirmation
// before destructive buttons (data-confirm) and focuses the first field.
"use strict";
document.addEventListener("submit", function (ev) {
  var b = ev.submitter || ev.target.querySelector("[data-confirm]");
  var msg = b && b.getAttribute("data-confirm");
  if (msg && !window.confirm(msg)) ev.preventDefault();
});
document.addEventListener("DOMContentLoaded", function () {
  var f = document.querySelector("main [autofocus]");
  if (f) f.focus();
});
// Keyboard shortcuts: a key pressed outside a text field clicks the
// button whose data-key it is (review queue: n, c, r, e, s, u).
document.addEventListener("keydown", function (ev) {
  if (ev.ctrlKey || ev.metaKey || ev.altKey || ev.repeat) return;
  var t = ev.target;
  if (t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
  var b = document.querySelector('button[data-key="' + ev.key.toLowerCase() + '"]');
  if (b) { ev.preventDefault(); b.click(); }
});
