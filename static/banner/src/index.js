// Entry of the script tag: options from its data-* attributes.
import { start } from "./start.js";

const script = document.currentScript;
const data = script.dataset;
start({
  site: data.site,
  api: data.api || new URL(script.src, location.href).origin,
  base: script.src,
  layout: data.layout,
  nonce: script.nonce,
  settingsButton: data.settingsButton !== "false",
});
