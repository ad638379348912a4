// Small behaviours every page shares. Loaded as a file (never inline) so the CSP needs no
// 'unsafe-inline'; every page also works without it.
(function () {
  "use strict";

  // <form data-autosubmit>: submit when a select changes (tenant switcher, member role).
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form[data-autosubmit]");
    if (form && event.target.matches("select")) {
      form.requestSubmit();
    }
  });

  // <select data-autosubmit-form>: submit its own form (page size).
  document.addEventListener("change", function (event) {
    if (event.target.matches("select[data-autosubmit-form]")) {
      event.target.form.requestSubmit();
    }
  });

  // <input type="checkbox" data-check-all>: tick or untick every row of its table.
  document.addEventListener("change", function (event) {
    if (event.target.matches("input[data-check-all]")) {
      var table = event.target.closest("table");
      table.querySelectorAll('input[type="checkbox"][name="ids"]').forEach(function (box) {
        box.checked = event.target.checked;
      });
    }
  });

  // [data-sheet-close] and Escape: close the detail sheet.
  function closeSheet() {
    var sheet = document.getElementById("sheet");
    if (sheet) { sheet.innerHTML = ""; }
  }
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-sheet-close]")) { closeSheet(); }
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") { closeSheet(); }
  });

  // <form data-confirm="...">: ask before a destructive post.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
