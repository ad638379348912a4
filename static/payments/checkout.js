// Opens Razorpay Checkout (live mode) with the options the page carries in data attributes.
// Razorpay posts the result to our callback URL (redirect mode), so nothing is trusted here.
(function () {
  "use strict";
  var el = document.getElementById("razorpay-options");
  var button = document.getElementById("razorpay-open");
  if (!el || !button || typeof window.Razorpay !== "function") { return; }
  var d = el.dataset;
  var options = {
    key: d.key,
    order_id: d.orderId,
    amount: d.amount,
    currency: d.currency,
    name: d.name,
    description: d.description,
    callback_url: d.callbackUrl,
    redirect: true,
    prefill: { email: d.email },
    modal: { ondismiss: function () { window.location.href = d.cancelUrl; } }
  };
  var checkout = new window.Razorpay(options);
  button.addEventListener("click", function () { checkout.open(); });
  checkout.open();
})();
