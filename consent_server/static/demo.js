// Demo of the public API: fetch the configuration, record a choice, show the receipt.
(function () {
  "use strict";
  var site = document.body.getAttribute("data-site");
  var base = "/api/v1/sites/" + encodeURIComponent(site);
  var consentId = localStorage.getItem("cm_demo_consent_id") || crypto.randomUUID();
  localStorage.setItem("cm_demo_consent_id", consentId);
  var config = null;

  function show(id, value) {
    document.getElementById(id).textContent =
      typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }

  function history() {
    fetch("/api/v1/consents/" + consentId).then(function (r) { return r.json(); })
      .then(function (body) { show("history", body.receipts.map(function (x) { return x.record; })); });
  }

  fetch(base + "/config").then(function (r) { return r.json(); }).then(function (body) {
    config = body;
    show("config-status", body.name + ": revision " + body.revision + ", " +
      body.categories.length + " kategorier, " + body.cookies.length + " deklarerade kakor.");
    history();
  });

  document.querySelectorAll("button[data-demo]").forEach(function (button) {
    button.addEventListener("click", function () {
      var method = button.getAttribute("data-demo");
      var decisions = {};
      config.categories.forEach(function (c) { decisions[c.key] = c.required || method === "accept_all"; });
      fetch(base + "/consents", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({consent_id: consentId, revision: config.revision, decisions: decisions,
          method: method, language: config.language, page_url: location.href, gpc: false})
      }).then(function (r) { return r.json(); }).then(function (body) { show("receipt", body); history(); });
    });
  });
})();
