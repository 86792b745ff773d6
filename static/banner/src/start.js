// The public API (window.ConsentManager) and the start of the banner with its options.
import { accept, acceptAll, boot, getConsent, on, rejectAll } from "./main.js";
import { state } from "./state.js";
import { safely } from "./util.js";
import { show } from "./ui.js";

const ready = (fn) => (state.config ? safely(fn) : null);

let current;

// options: {site, api, base (where banner.<hash>.css and i18n/ are), layout, nonce, settingsButton}
// One banner per page: a later call returns the first one's API, so the consent id, the
// Consent Mode defaults and the listeners are set up once.
export function start(options) {
  if (current) return current;
  const api = {
    acceptAll: () => ready(acceptAll),
    rejectAll: () => ready(rejectAll),
    accept: (categories) => ready(() => accept(categories)),
    show: () => ready(() => show(false)),
    showPreferences: () => ready(() => show(true)),
    getConsent: () => safely(getConsent) || null,
    on: (name, callback) => safely(on, name, callback),
    ready: null,
  };
  window.ConsentManager = current = api;
  api.ready = safely(boot, options, "__CSS__") || Promise.resolve();
  return api;
}
