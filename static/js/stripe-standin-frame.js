// Inside the stand-in's embedded checkout frame: tell the embedding page our height and,
// once paid, that checkout is complete (or where to go, for redirect_on_completion=always).
(function () {
  "use strict";
  var root = document.getElementById("standin-frame");
  if (!root || window.parent === window) { return; }
  var parentOrigin = root.dataset.parentOrigin;

  function send(message) {
    message.source = "stripe-standin";
    window.parent.postMessage(message, parentOrigin);
  }

  // The body's height, not the document's: that is never less than the frame, which could then
  // grow but never shrink to a shorter form (a card form without the bank account's).
  send({ type: "height", height: document.body.scrollHeight });
  if (root.dataset.state === "complete") {
    send({ type: "complete" });
  } else if (root.dataset.state === "redirect") {
    send({ type: "redirect", url: root.dataset.redirectUrl });
  }
})();
