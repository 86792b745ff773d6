// The banner's one state object: configuration, the visitor's choice and event listeners.
export const state = {
  api: "", // origin of the consent server
  site: "",
  nonce: "",
  config: null, // GET /config answer
  choice: null, // {id, rev, d: {category: 0|1}, t, m}
  consentId: "",
  // The region rule for a visitor without a current choice: "banner", "opt_out" or "none"
  // (GET /region, asked only when the configuration says region_lookup).
  rule: "banner",
  listeners: { consent: [], change: [] },
  settingsButton: true,
  root: null,
};
