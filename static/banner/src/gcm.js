// Google Consent Mode v2: everything denied by default, then an update once a choice exists.
import { GCM_TYPES, GCM_WAIT } from "./constants.js";
import { state } from "./state.js";

function gtag() {
  window.dataLayer = window.dataLayer || [];
  // gtag.js reads Arguments objects from the dataLayer, not plain arrays.
  window.dataLayer.push(arguments);
}

export function consentDefault() {
  const denied = {};
  for (const type of GCM_TYPES) denied[type] = "denied";
  denied.wait_for_update = GCM_WAIT;
  gtag("consent", "default", denied);
}

export function consentUpdate(decisions) {
  const update = {};
  for (const cat of state.config.categories) {
    for (const type of cat.google_consent_mode || []) {
      // A type mapped to several categories is granted when any of them is.
      if (update[type] !== "granted") update[type] = decisions[cat.key] ? "granted" : "denied";
    }
  }
  gtag("consent", "update", update);
}
