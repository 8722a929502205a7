// Progressive enhancements for the registration flow; every page also works without them.
(function () {
  "use strict";

  // What changed, in words for the live region ("role=status") before the page reloads to show it:
  // a screen reader hears the news, not only a page that silently changed under it.
  function news(body) {
    if (body.state === "completed") {
      return "Registered. Loading the result…";
    }
    if (body.problem === "session_ended") {
      return "This window's session ended. Loading what to do…";
    }
    // A closed registration answers with its problem page's kind: say which, not just "did not finish".
    if (body.problem === "declined" || body.approval === "rejected") {
      return "Your request was declined. Loading the reason…";
    }
    if (body.problem === "withdrawn" || body.approval === "withdrawn") {
      return "Your request was withdrawn. Loading the details…";
    }
    if (body.problem === "expired" || body.state === "expired" || body.approval === "expired") {
      return "This registration expired. Loading the details…";
    }
    if (body.problem) {
      return "The registration did not finish. Loading what happened…";
    }
    if (body.approval === "approved") {
      return "Approved. Finishing the registration…";
    }
    if (body.state === "failed" || body.state === "reviewed") {
      return "The registration did not finish. Loading what happened…";
    }
    return "Something changed. Loading the news…";
  }

  // Say the news in the page's live region, then reload once it had time to be read out.
  var ANNOUNCE_PAUSE_MS = 800;
  function announceThenReload(region, body) {
    if (region) {
      region.textContent = news(body);
    }
    window.setTimeout(function () { window.location.reload(); }, ANNOUNCE_PAUSE_MS);
  }

  // Done page while the registration is being completed: poll its state, reload when it changes.
  function pollStatus(section) {
    var url = section.getAttribute("data-status-url");
    var region = section.querySelector("[aria-live]");
    var delay = 1500;
    var deadline = Date.now() + 5 * 60 * 1000;
    function check() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (body.state !== "completing") {
            announceThenReload(region, body);
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

  // Waiting page (live approval): poll the registration and its request; when either changes, say
  // so and reload, so the server shows the outcome (done with the close script, or the reason for a
  // refusal). Polls quickly at first, then less often, for as long as a registration can live.
  function pollApproval(section) {
    var url = section.getAttribute("data-status-url");
    var seen = section.getAttribute("data-seen");
    var region = section.querySelector("[aria-live]");
    var started = Date.now();
    var deadline = started + 60 * 60 * 1000;
    function delay() {
      var waited = Date.now() - started;
      return waited < 2 * 60 * 1000 ? 1500 : waited < 10 * 60 * 1000 ? 5000 : 15000;
    }
    function check() {
      fetch(url, { headers: { Accept: "application/json" }, cache: "no-store", credentials: "same-origin" })
        .then(function (response) { return response.json(); })
        .then(function (body) {
          if (body.state + "/" + body.approval !== seen) {
            announceThenReload(region, body);
          } else if (Date.now() < deadline) {
            window.setTimeout(check, delay());
          }
        })
        .catch(function () {
          if (Date.now() < deadline) {
            window.setTimeout(check, delay() * 2);
          }
        });
    }
    window.setTimeout(check, delay());
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

  // Done page when LTIAAS's close script was lost: the admin asks for the LMS's close message,
  // the one LTIAAS's script would have sent (LTI Dynamic Registration's "org.imsglobal.lti.close").
  function closeOnClick(button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var lms = window.opener || (window.parent !== window ? window.parent : null);
      if (lms) {
        lms.postMessage({ subject: "org.imsglobal.lti.close" }, "*");
      }
      var note = document.getElementById("close-sent");
      if (note) {
        note.hidden = false;
      }
    });
  }

  var finishing = document.querySelector("[data-page=done][data-state=completing][data-status-url]");
  if (finishing) {
    pollStatus(finishing);
  }
  var waiting = document.querySelector("[data-page=waiting][data-status-url][data-seen]");
  if (waiting) {
    pollApproval(waiting);
  }
  document.querySelectorAll("input[data-controls]").forEach(linkPlacements);
  document.querySelectorAll("form[data-submit-once]").forEach(submitOnce);
  document.querySelectorAll("button[data-lti-close]").forEach(closeOnClick);
})();
