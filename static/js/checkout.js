// The payment step: Embedded Checkout in this page, hosted Checkout in a new window as the
// fallback. The page moves on only when our server says the payment is paid.
(function () {
  "use strict";

  var POLL_MS = 1500;
  var POLL_LIMIT_MS = 30 * 60 * 1000;
  var NOTHING_TO_PAY = new Error("nothing to pay");

  function setStatus(text) {
    var el = document.getElementById("payment-status");
    if (el) { el.textContent = text; }
  }

  function goTo(url) {
    if (url) { window.location.assign(url); } else { setStatus("Payment received. You can continue."); }
  }

  // Poll our status endpoint until the payment is paid (or has failed/expired).
  function pollStatus(statusUrl, onPaid, onStopped) {
    var started = Date.now();
    var stopped = false;
    function tick() {
      if (stopped) { return; }
      fetch(statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
        .then(function (r) { return r.ok ? r.json() : { status: "pending" }; })
        .catch(function () { return { status: "pending" }; })
        .then(function (body) {
          if (stopped) { return; }
          if (body.paid) { stopped = true; onPaid(); return; }
          if (body.status === "failed" || body.status === "expired") {
            stopped = true; if (onStopped) { onStopped(body.status); } return;
          }
          if (Date.now() - started > POLL_LIMIT_MS) {
            stopped = true; setStatus("Still waiting for the payment. Reload this page to check again."); return;
          }
          window.setTimeout(tick, POLL_MS);
        });
    }
    tick();
    return function stop() { stopped = true; };
  }

  function initReturnPage(root) {
    pollStatus(root.dataset.statusUrl, function () { goTo(root.dataset.nextUrl); });
  }

  function initCheckoutPage(root) {
    var data = root.dataset;
    var checkout = null;
    var stopPolling = null;
    var waiting = document.getElementById("payment-waiting");
    var newWindowLink = document.getElementById("pay-new-window");
    var payHere = document.getElementById("pay-here");

    function postJson(url) {
      return fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-CSRFToken": data.csrfToken },
      }).then(function (r) {
        return r.json().catch(function () { return {}; }).then(function (body) {
          if (!r.ok) { throw new Error(body.error || "Payment is unavailable right now. Please try again."); }
          return body;
        });
      });
    }

    function waitForPayment() {
      if (stopPolling) { stopPolling(); }
      stopPolling = pollStatus(data.statusUrl, function () {
        setStatus("Payment received.");
        goTo(data.nextUrl);
      }, function (state) {
        setStatus(state === "failed" ? "The payment failed. Please try again." : "The payment session expired. Please try again.");
        if (waiting) { waiting.hidden = true; }
        mountEmbedded();
      });
    }

    function fetchClientSecret() {
      return postJson(data.sessionUrl).then(function (body) {
        if (body.state === "open") { return body.client_secret; }
        if (body.state === "closed") {
          // Nothing may be paid now (the registration closed): the flow's page says why.
          goTo(data.nextUrl);
          throw NOTHING_TO_PAY;
        }
        // Paid already, or an asynchronous payment is under way: no new session, just wait.
        setStatus(body.state === "paid" ? "Payment received." : "Your payment is being processed…");
        waitForPayment();
        throw NOTHING_TO_PAY;
      });
    }

    function onComplete() {
      setStatus("Confirming your payment…");
      waitForPayment();
    }

    function destroyEmbedded() {
      if (checkout) { checkout.destroy(); checkout = null; }
    }

    function mountEmbedded() {
      destroyEmbedded();
      if (typeof window.Stripe !== "function") {
        setStatus("The payment form could not load here. Use “Pay in a new window”.");
        return;
      }
      var stripe = window.Stripe(data.publishableKey);
      Promise.resolve(stripe.createEmbeddedCheckoutPage({ fetchClientSecret: fetchClientSecret, onComplete: onComplete }))
        .then(function (instance) { checkout = instance; instance.mount("#checkout"); })
        .catch(function (error) {
          if (error !== NOTHING_TO_PAY) { setStatus(error.message + " You can also use “Pay in a new window”."); }
        });
    }

    if (newWindowLink) {
      // The link opens the window itself (a real click, so no popup blocker); this only
      // switches this page to waiting and fetches a fresh one-time link for the next click.
      newWindowLink.addEventListener("click", function () {
        destroyEmbedded();
        if (waiting) { waiting.hidden = false; }
        setStatus("Waiting for your payment in the new window…");
        waitForPayment();
        window.setTimeout(function () {
          postJson(data.linkUrl).then(function (body) { newWindowLink.href = body.url; }).catch(function () {});
        }, 0);
      });
    }
    if (payHere) {
      payHere.addEventListener("click", function () {
        if (stopPolling) { stopPolling(); }
        if (waiting) { waiting.hidden = true; }
        setStatus("");
        mountEmbedded();
      });
    }
    mountEmbedded();
  }

  var checkoutRoot = document.getElementById("billing-checkout");
  if (checkoutRoot) { initCheckoutPage(checkoutRoot); }
  var returnRoot = document.getElementById("billing-return");
  if (returnRoot) { initReturnPage(returnRoot); }
})();
