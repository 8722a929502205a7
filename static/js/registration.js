// Progressive enhancements for the registration flow; every page also works without them.
(function () {
  "use strict";

  // Done page while the registration is being completed: poll its state, reload when it changes.
  function pollStatus(section) {
    var url = section.getAttribute("data-status-url");
    var delay = 1500;
    var deadline = Date.now() + 5 * 60 * 1000;
    function check() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (body.state !== "completing") {
            window.location.reload();
          } else if (Date.now() < deadline) {
            window.setTimeout(check, delay);
          }
        })
        .catch(function () {
          if (Date.now() < deadline) {
            window.setTimeout(check, delay * 2);
          }
        });
    }
    window.setTimeout(check, delay);
  }

  // Configure page: placements of a message type only matter when the type is included.
  function linkPlacements(checkbox) {
    var group = document.getElementById(checkbox.getAttribute("data-controls"));
    if (!group) {
      return;
    }
    function sync() {
      group.disabled = !checkbox.checked;
    }
    checkbox.addEventListener("change", sync);
    sync();
  }

  // A form that must be sent once (e.g. "Register the tool"): ignore further clicks.
  function submitOnce(form) {
    form.addEventListener("submit", function (event) {
      if (form.getAttribute("data-submitted")) {
        event.preventDefault();
        return;
      }
      form.setAttribute("data-submitted", "true");
      var button = form.querySelector("button[type=submit]");
      if (button) {
        button.setAttribute("aria-disabled", "true");
        button.classList.add("is-busy");
      }
    });
  }

  var finishing = document.querySelector("[data-page=done][data-state=completing][data-status-url]");
  if (finishing) {
    pollStatus(finishing);
  }
  document.querySelectorAll("input[data-controls]").forEach(linkPlacements);
  document.querySelectorAll("form[data-submit-once]").forEach(submitOnce);
})();
