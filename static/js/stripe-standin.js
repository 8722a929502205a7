// A stand-in for Stripe.js's Embedded Checkout (development, tests and the sandbox only;
// production loads Stripe's own release). The stand-in serves this file at Stripe's paths
// (/sandbox/stripe/js/<release>/stripe.js, /sandbox/stripe/js/v3/) and writes in the release
// it imitates, whose Embedded Checkout method is the only one it has:
//   const checkout = await Stripe(pk).createEmbeddedCheckoutPage({fetchClientSecret, onComplete});
//   (the legacy v3 release: initEmbeddedCheckout), then checkout.mount("#checkout"); checkout.destroy();
// Calling the other release's method throws, as an undefined function does with Stripe's script.
// The form itself is a frame from the stand-in's origin (/sandbox/stripe/embedded), which
// tells this page about completion by postMessage.
(function () {
  "use strict";

  var IMITATED = /*STANDIN_RELEASE*/null;
  if (!IMITATED) {
    // Loaded from somewhere that is not a release's path: like a Stripe.js that did not load.
    if (window.console) { window.console.error("Stripe.js stand-in: load it from /sandbox/stripe/js/<release>/stripe.js"); }
    return;
  }

  var script = document.currentScript;
  var standinBase = (script ? new URL(script.src).origin : window.location.origin) + "/sandbox/stripe";
  var frameOrigin = new URL(standinBase).origin;
  var active = null;
  var instances = 0;

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

  // Stripe.js: a destroyed Embedded Checkout cannot be used again (stripe/stripe-js#685).
  EmbeddedCheckout.prototype._usable = function () {
    if (this._destroyed) {
      throw IntegrationError("This Embedded Checkout instance has been destroyed and can't be used anymore.");
    }
  };

  EmbeddedCheckout.prototype.mount = function (target) {
    this._usable();
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
    this._usable();
    window.removeEventListener("message", this._onMessage);
    if (this._iframe && this._iframe.parentNode) { this._iframe.parentNode.removeChild(this._iframe); }
    this._iframe = null;
  };

  EmbeddedCheckout.prototype.destroy = function () {
    this.unmount();
    this._destroyed = true;
    if (active === this) { active = null; }
  };

  // Embedded Checkout, under whichever name the imitated release gives it.
  function embeddedCheckout(options) {
    var name = IMITATED.embeddedCheckout;
    options = options || {};
    if (active) {
      return Promise.reject(IntegrationError("You cannot have multiple Embedded Checkout objects. Call destroy() first."));
    }
    var fetchClientSecret = options.fetchClientSecret;
    if (typeof fetchClientSecret !== "function") {
      if (typeof options.clientSecret !== "string") {
        return Promise.reject(IntegrationError(name + "(): pass fetchClientSecret (a function returning a Promise)."));
      }
      fetchClientSecret = function () { return Promise.resolve(options.clientSecret); };
    }
    var placeholder = {};
    active = placeholder;
    return Promise.resolve().then(fetchClientSecret).then(function (clientSecret) {
      if (typeof clientSecret !== "string" || clientSecret.indexOf("_secret_") < 0) {
        throw IntegrationError("fetchClientSecret() did not return a Checkout Session client secret.");
      }
      var checkout = new EmbeddedCheckout(clientSecret, options.onComplete);
      active = checkout;
      return checkout;
    }).catch(function (error) {
      if (active === placeholder) { active = null; }
      throw error;
    });
  }

  function Stripe(publishableKey) {
    if (typeof publishableKey !== "string" || publishableKey.indexOf("pk_") !== 0) {
      throw IntegrationError("Invalid value for Stripe(): apiKey should be a publishable key (pk_...).");
    }
    instances += 1;
    var stripe = {};
    stripe[IMITATED.embeddedCheckout] = embeddedCheckout;
    return stripe;
  }

  window.Stripe = Stripe;
  // For tests: which release this imitates, and how many Stripe instances the page made.
  window.StripeStandin = {
    release: IMITATED.release,
    instances: function () { return instances; },
  };
})();
