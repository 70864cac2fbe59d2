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
