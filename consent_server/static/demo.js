// Shows what the banner did: the consent, which blocked scripts ran, cookies, Consent Mode.
(function () {
  "use strict";
  function show(id, value) {
    document.getElementById(id).textContent =
      typeof value === "string" ? value : JSON.stringify(value, null, 2);
  }
  function refresh() {
    show("consent", window.ConsentManager.getConsent() || "null");
    show("runs", (window.demoRuns || []).join("\n") || "–");
    show("cookies", document.cookie.split("; ").join("\n") || "–");
    show("datalayer", (window.dataLayer || []).map(function (entry) {
      return Array.prototype.slice.call(entry);
    }));
  }
  // Blocked scripts run after the "consent" event; each of them announces itself.
  document.addEventListener("demo:ran", refresh);
  window.ConsentManager.on("consent", refresh);
  window.ConsentManager.ready.then(refresh);
})();
