// The sandbox LMS's admin page: start a Dynamic Registration, open the tool's
// window (a dialog with an iframe, or a new tab for Brightspace; #window-mode
// may choose either for any LMS), wait for the tool's close message, then show
// what the LMS registered.
//
// State for people and browser tests:
//   #close-status     "idle" -> "waiting" -> "closed" (or "cancelled")
//   #registered-tools <li data-client-id data-deployment-id data-profile data-messages>
(function () {
  "use strict";

  var CLOSE_SUBJECT = "org.imsglobal.lti.close";

  var form = document.getElementById("start-form");
  var registerUrl = document.getElementById("register-url");
  var windowMode = document.getElementById("window-mode");
  var refuse = document.getElementById("refuse");
  var refusalMessage = document.getElementById("refusal-message");
  var startButton = document.getElementById("start-button");
  var closeStatus = document.getElementById("close-status");
  var statusMessage = document.getElementById("status-message");
  var toolsList = document.getElementById("registered-tools");
  var dialog = document.getElementById("registration-dialog");
  var dialogTitle = document.getElementById("dialog-title");
  var frame = document.getElementById("registration-frame");
  var cancelButton = document.getElementById("dialog-cancel");

  var current = null; // {attemptId, profile, label, tab}

  function meta(name) {
    var element = document.querySelector('meta[name="' + name + '"]');
    return element ? element.getAttribute("content") : "";
  }

  function setState(state, message) {
    closeStatus.value = state;
    closeStatus.textContent = state;
    closeStatus.dataset.attempt = current ? current.attemptId : "";
    if (message) {
      statusMessage.textContent = message;
    }
  }

  function chosenProfile() {
    return form.querySelector('input[name="profile"]:checked');
  }

  function startAttempt(profile) {
    return fetch("attempts", {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "X-CSRFToken": meta("csrf-token"),
        "X-Session-Token": meta("session-token"),
      },
      body: JSON.stringify({
        profile: profile,
        register_url: registerUrl.value,
        refusal: refuse.checked ? refusalMessage.value : "",
      }),
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          throw new Error(body.error || ("The LMS refused to start (HTTP " + response.status + ")."));
        }
        return body;
      });
    });
  }

  function openDialog(url, label) {
    dialogTitle.textContent = "Register a tool · " + label;
    frame.src = url;
    if (typeof dialog.showModal === "function") {
      dialog.showModal();
    } else {
      dialog.setAttribute("open", "");
    }
  }

  function closeWindow() {
    if (dialog.open) {
      dialog.close();
    }
    frame.removeAttribute("src");
    if (current && current.tab && !current.tab.closed) {
      current.tab.close();
    }
  }

  function onSubmit(event) {
    event.preventDefault();
    var choice = chosenProfile();
    if (!choice) {
      setState("idle", "Pick an LMS first.");
      return;
    }
    var label = choice.dataset.label;
    var refusing = refuse.checked ? " This LMS will refuse it." : "";
    // A new tab must be opened within the click, before any await, or it is blocked as a popup.
    var opensTab = (windowMode.value || choice.dataset.window) === "new tab";
    var tab = opensTab ? window.open("about:blank", "_blank") : null;
    startButton.disabled = true;
    startAttempt(choice.value)
      .then(function (started) {
        current = { attemptId: started.attempt_id, profile: started.profile, label: label, tab: tab };
        toolsList.dataset.attempt = started.attempt_id;
        renderTools([]);
        if (tab) {
          tab.location.href = started.register_url;
          setState("waiting", label + ": the tool's registration is open in a new tab." + refusing);
        } else {
          openDialog(started.register_url, label);
          setState("waiting", label + ": the tool's registration is open in the dialog." + refusing);
        }
      })
      .catch(function (error) {
        if (tab) {
          tab.close();
        }
        setState("idle", error.message);
      })
      .finally(function () {
        startButton.disabled = false;
      });
  }

  function onMessage(event) {
    // Like Moodle: any window may send it, only the subject matters.
    if (!event.data || event.data.subject !== CLOSE_SUBJECT || !current) {
      return;
    }
    closeWindow();
    setState("closed", current.label + ": the tool closed its window. Loading what was registered…");
    loadTools(current.attemptId);
  }

  function loadTools(attemptId) {
    fetch("api/tools?attempt=" + encodeURIComponent(attemptId), {
      credentials: "same-origin",
      headers: { "Accept": "application/json" },
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (body) {
        renderTools(body.tools || []);
        var count = (body.tools || []).length;
        statusMessage.textContent = count
          ? "Registered " + count + " tool" + (count === 1 ? "" : "s") + " in this attempt."
          : "The window closed, but nothing was registered in this attempt.";
      })
      .catch(function () {
        statusMessage.textContent = "Could not load the registered tools.";
      });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined) {
      node.textContent = text;
    }
    return node;
  }

  function toolItem(tool) {
    var item = element("li", "sb-tool");
    item.dataset.clientId = tool.client_id;
    item.dataset.deploymentId = tool.deployment_id;
    item.dataset.profile = tool.profile;
    item.dataset.messages = JSON.stringify(tool.messages);
    item.appendChild(element("strong", "sb-tool-name", tool.client_name || "(no name)"));
    if (!tool.enabled) {
      item.appendChild(element("span", "sb-tag", "disabled until enabled by the admin"));
    }
    var ids = element("p", "sb-tool-ids");
    ids.appendChild(document.createTextNode("client_id "));
    ids.appendChild(element("code", "", tool.client_id));
    ids.appendChild(document.createTextNode(" · deployment_id "));
    ids.appendChild(element("code", "", tool.deployment_id));
    item.appendChild(ids);
    var messages = element("ul", "sb-tool-messages");
    tool.messages.forEach(function (message) {
      var placements = message.placements.length ? message.placements.join(", ") : "no placement";
      messages.appendChild(element("li", "", message.type + ": " + placements));
    });
    item.appendChild(messages);
    return item;
  }

  function renderTools(tools) {
    toolsList.replaceChildren();
    toolsList.dataset.count = String(tools.length);
    if (!tools.length) {
      toolsList.appendChild(element("li", "sb-empty", "Nothing yet. When the tool's window closes, what it registered shows here."));
      return;
    }
    tools.forEach(function (tool) {
      toolsList.appendChild(toolItem(tool));
    });
  }

  form.addEventListener("submit", onSubmit);
  window.addEventListener("message", onMessage);
  cancelButton.addEventListener("click", function () {
    closeWindow();
    setState("cancelled", "Registration window closed without the tool's close message.");
  });
  dialog.addEventListener("cancel", function () {
    frame.removeAttribute("src");
    setState("cancelled", "Registration window closed without the tool's close message.");
  });
})();
