// The payment step: Embedded Checkout in this page, hosted Checkout in a new window as the
// fallback. The page moves on only when our server says the payment is paid.
(function () {
  "use strict";

  var POLL_MS = 1500;
  var POLL_LIMIT_MS = 30 * 60 * 1000;
  // Stripe usually answers within a second or two; the server waits for it, with retries, for
  // up to about a minute (STRIPE_TIMEOUT) before saying it is unavailable.
  var SLOW_STRIPE_MS = 8000;
  var STRIPE_SLOW = "Stripe, the payment service, is slow to answer. Still waiting for the payment form…";
  var NOTHING_TO_PAY = new Error("nothing to pay");
  var FORM_UNAVAILABLE = "The payment form could not be shown here. " +
    "Use “Pay in a new window” below to pay on Stripe's own page.";

  function setStatus(text) {
    var el = document.getElementById("payment-status");
    if (el) { el.textContent = text; }
  }

  // A problem the customer must read (role=alert); empty text hides it.
  function setProblem(text) {
    var el = document.getElementById("payment-problem");
    if (!el) { return; }
    el.textContent = text;
    el.hidden = !text;
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
    pollStatus(root.dataset.statusUrl, function () { goTo(root.dataset.nextUrl); }, function (state) {
      setStatus(state === "failed" ?
        "Your bank declined the payment after it was submitted, so it was not paid. Continue to pay again." :
        "The payment session expired before it was paid. Continue to pay again.");
    });
  }

  function initCheckoutPage(root) {
    var data = root.dataset;
    var stripe = null; // one Stripe instance per page, created on first use
    var checkout = null;
    var stopPolling = null;
    var waiting = document.getElementById("payment-waiting");
    var newWindowLink = document.getElementById("pay-new-window");
    var payHere = document.getElementById("pay-here");
    var box = document.getElementById("checkout-box");

    // "loading" and "form" keep the form's room on the page (portal.css); "none" gives it back.
    function setBox(state) {
      if (box) { box.dataset.state = state; }
    }

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
        // A failed bank debit never reopens its Checkout Session: the server starts a new one.
        if (state === "failed") { setProblem(data.asyncFailedMessage); }
        setStatus(state === "failed" ? "" : "The payment session expired. Please pay again.");
        if (waiting) { waiting.hidden = true; }
        mountEmbedded();
      });
    }

    // Says so when Stripe is slow, until `settled` is called.
    function sayWhenSlow() {
      var timer = window.setTimeout(function () { setStatus(STRIPE_SLOW); }, SLOW_STRIPE_MS);
      return function settled() {
        window.clearTimeout(timer);
        var el = document.getElementById("payment-status");
        if (el && el.textContent === STRIPE_SLOW) { setStatus(""); }
      };
    }

    function fetchClientSecret() {
      var settled = sayWhenSlow();
      return postJson(data.sessionUrl).then(function (body) {
        settled();
        return body;
      }, function (error) {
        settled();
        throw error;
      }).then(function (body) {
        if (body.notice) { setProblem(body.notice); }
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
      setBox("none");
    }

    // Stripe.js did not load, or could not show its form: never a blank form, say so and
    // point at the new window, which needs no Stripe.js in this page.
    function formUnavailable(error) {
      destroyEmbedded();
      if (window.console && error) { window.console.error(error); }
      setStatus("");
      setProblem(FORM_UNAVAILABLE);
      if (newWindowLink) { newWindowLink.classList.replace("button-secondary", "button-primary"); }
    }

    // The Embedded Checkout of the release this page loaded: the server names its method
    // (data-embedded-checkout-method) from the same release as the script's URL.
    function createEmbeddedCheckout() {
      if (!stripe) { stripe = window.Stripe(data.publishableKey); }
      return stripe[data.embeddedCheckoutMethod]({ fetchClientSecret: fetchClientSecret, onComplete: onComplete });
    }

    function mountEmbedded() {
      destroyEmbedded();
      setBox("loading");
      if (typeof window.Stripe !== "function") { formUnavailable(new Error("Stripe.js did not load")); return; }
      var created;
      try {
        created = createEmbeddedCheckout();
      } catch (error) { // e.g. a method this release does not have
        formUnavailable(error);
        return;
      }
      Promise.resolve(created)
        .then(function (instance) {
          checkout = instance;
          try {
            instance.mount("#checkout");
            setBox("form");
          } catch (error) { formUnavailable(error); }
        }, function (error) {
          setBox("none");
          if (error === NOTHING_TO_PAY) { return; }
          if (error && error.name === "IntegrationError") { formUnavailable(error); return; }
          setStatus(error.message + " You can also use “Pay in a new window”.");
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
        setProblem("");
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
