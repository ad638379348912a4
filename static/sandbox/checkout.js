// The sandbox checkout's behaviour, as a file (the CSP allows no inline script). The page works
// without it: every method's fields show, and the result page has a "Return to the merchant"
// button.
(function () {
  "use strict";

  // Show only the chosen payment method's fields.
  function showChosenMethod() {
    var chosen = document.querySelector('input[name="method"]:checked');
    document.querySelectorAll("[data-method-panel]").forEach(function (panel) {
      panel.hidden = !chosen || panel.getAttribute("data-method-panel") !== chosen.value;
    });
  }

  // Card number in groups of four as it is typed.
  function groupCardNumber(input) {
    var digits = input.value.replace(/\D/g, "").slice(0, 19);
    input.value = digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector('input[name="method"]')) {
      showChosenMethod();
      document.addEventListener("change", function (event) {
        if (event.target.matches('input[name="method"]')) { showChosenMethod(); }
      });
      var card = document.querySelector('input[name="card_number"]');
      if (card) {
        card.addEventListener("input", function () { groupCardNumber(card); });
      }
    }

    // The result page: post the outcome to the merchant's callback URL, as Razorpay Checkout
    // does, after a moment to read it.
    var callback = document.querySelector("form[data-sandbox-callback]");
    if (callback) {
      window.setTimeout(function () { callback.submit(); }, 1200);
    }
  });
})();
