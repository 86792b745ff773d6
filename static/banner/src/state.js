// The banner's one state object: configuration, the visitor's choice and event listeners.
export const state = {
  api: "", // origin of the consent server
  site: "",
  nonce: "",
  config: null, // GET /config answer
  choice: null, // {id, rev, d: {category: 0|1}, t, m}
  consentId: "",
  listeners: { consent: [], change: [] },
  settingsButton: true,
  root: null,
};
