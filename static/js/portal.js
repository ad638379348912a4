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

  // <form data-confirm="...">: ask before a destructive post.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  }, true);
})();
