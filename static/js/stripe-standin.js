// A stand-in for Stripe.js's Embedded Checkout (development, tests and the sandbox only;
// production loads https://js.stripe.com/v3/). Same surface as the dahlia-era API:
//   const checkout = await Stripe(pk).createEmbeddedCheckoutPage({fetchClientSecret, onComplete});
//   checkout.mount("#checkout"); ... checkout.destroy();
// The form itself is a frame from the stand-in's origin (/sandbox/stripe/embedded), which
// tells this page about completion by postMessage.
(function () {
  "use strict";

  var script = document.currentScript;
  var standinBase = (script && script.dataset.standinBase) ||
    (script ? new URL(script.src).origin : window.location.origin) + "/sandbox/stripe";
  var frameOrigin = new URL(standinBase).origin;
  var active = null;

  function IntegrationError(message) {
    var error = new Error(message);
    error.name = "IntegrationError";
    return error;
  }

  function EmbeddedCheckout(clientSecret, onComplete) {
    this._clientSecret = clientSecret;
    this._onComplete = onComplete;
    this._iframe = null;
    this._onMessage = this._handleMessage.bind(this);
  }

  EmbeddedCheckout.prototype._handleMessage = function (event) {
    if (!this._iframe || event.source !== this._iframe.contentWindow || event.origin !== frameOrigin) { return; }
    var data = event.data || {};
    if (data.source !== "stripe-standin") { return; }
    if (data.type === "height" && data.height) {
      this._iframe.style.height = Math.max(200, data.height) + "px";
    } else if (data.type === "complete" && typeof this._onComplete === "function") {
      this._onComplete();
    } else if (data.type === "redirect" && data.url) {
      window.location.assign(data.url);
    }
  };

  EmbeddedCheckout.prototype.mount = function (target) {
    var container = typeof target === "string" ? document.querySelector(target) : target;
    if (!container) { throw IntegrationError("mount(): no element matches " + target); }
    if (this._iframe) { throw IntegrationError("This Embedded Checkout is already mounted."); }
    var iframe = document.createElement("iframe");
    iframe.src = standinBase + "/embedded?client_secret=" + encodeURIComponent(this._clientSecret) +
      "&origin=" + encodeURIComponent(window.location.origin);
    iframe.title = "Secure payment form";
    iframe.name = "embedded-checkout";
    iframe.setAttribute("allow", "payment *");
    iframe.style.width = "100%";
    iframe.style.height = "420px";
    iframe.style.border = "0";
    window.addEventListener("message", this._onMessage);
    container.appendChild(iframe);
    this._iframe = iframe;
  };

  EmbeddedCheckout.prototype.unmount = function () {
    window.removeEventListener("message", this._onMessage);
    if (this._iframe && this._iframe.parentNode) { this._iframe.parentNode.removeChild(this._iframe); }
    this._iframe = null;
  };

  EmbeddedCheckout.prototype.destroy = function () {
    this.unmount();
    if (active === this) { active = null; }
  };

  function Stripe(publishableKey) {
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw IntegrationError("Invalid value for Stripe(): apiKey should be a publishable key (pk_...).");
    }
    return {
      createEmbeddedCheckoutPage: function (options) {
        options = options || {};
        if (active) {
          return Promise.reject(IntegrationError("You cannot have multiple Embedded Checkout objects. Call destroy() first."));
        }
        if (typeof options.fetchClientSecret !== "function") {
          return Promise.reject(IntegrationError("createEmbeddedCheckoutPage(): fetchClientSecret must be a function."));
        }
        var placeholder = {};
        active = placeholder;
        return Promise.resolve(options.fetchClientSecret()).then(function (clientSecret) {
          if (typeof clientSecret !== "string" || clientSecret.indexOf("_secret_") < 0) {
            throw IntegrationError("fetchClientSecret() did not return a Checkout Session client secret.");
          }
          var checkout = new EmbeddedCheckout(clientSecret, options.onComplete);
          active = checkout;
          return checkout;
        }, function (error) {
          if (active === placeholder) { active = null; }
          throw error;
        });
      },
      initEmbeddedCheckout: function () {
        throw IntegrationError("initEmbeddedCheckout() was replaced by createEmbeddedCheckoutPage() in the dahlia release.");
      },
    };
  }

  window.Stripe = Stripe;
})();
