// Entry of the npm package (ES module): start({site, api, layout}) instead of a script tag.
import { start as begin } from "./start.js";

export function start(options) {
  const o = options || {};
  const api = String(o.api || "").replace(/\/$/, "");
  // The stylesheet and language files come from the consent server unless `base` says otherwise.
  return begin({ settingsButton: true, ...o, api, base: o.base || `${api}/banner/` });
}
