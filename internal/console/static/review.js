// Nigehban review item page: keyboard shortcuts and unblurring the
// preview in place. Loaded same-origin; no inline script (CSP).
"use strict";
(function () {
  // Unblur: post the click (it is audited before the answer), then show
  // the preview clearly. Without script the form post shows the page clear.
  var form = document.getElementById("unblur-form");
  if (form) {
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      fetch(form.action, { method: "POST", credentials: "same-origin", headers: { "X-Nigehban-Fetch": "1" } })
        .then(function (r) {
          if (r.status !== 204) throw new Error("unblur refused: " + r.status);
          var fig = document.getElementById("preview");
          fig.classList.remove("blurred");
          fig.classList.add("unblurred");
          form.remove();
        })
        .catch(function () { form.submit(); });
    });
    // A click on the blurred preview itself asks the same.
    var fig = document.getElementById("preview");
    fig.addEventListener("click", function (ev) {
      if (fig.classList.contains("blurred") && ev.target.tagName !== "BUTTON") form.requestSubmit();
    });
  }
})();
