// Entry: exposes window.ConsentManager and starts the banner; logic lives in the modules.
import { accept, acceptAll, boot, getConsent, on, rejectAll } from "./main.js";
import { state } from "./state.js";
import { safely } from "./util.js";
import { show } from "./ui.js";

const script = document.currentScript;
const ready = (fn) => (state.config ? safely(fn) : null);

window.ConsentManager = {
  acceptAll: () => ready(acceptAll),
  rejectAll: () => ready(rejectAll),
  accept: (categories) => ready(() => accept(categories)),
  show: () => ready(() => show(false)),
  showPreferences: () => ready(() => show(true)),
  getConsent: () => safely(getConsent) || null,
  on: (name, callback) => safely(on, name, callback),
  ready: null,
};
window.ConsentManager.ready = safely(boot, script, "__CSS__") || Promise.resolve();
