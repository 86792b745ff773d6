// Built-in texts: one small JSON file per language next to the bundle, fetched on demand.
import { state } from "./state.js";

// "da.<hash>,de.<hash>,…": the build writes the language files' names here.
const FILES = "__I18N__".split(",");
const loading = {};

// The primary subtag; Norwegian (no, nn) reads as Bokmål, as on the server.
export function primary(tag) {
  const p = (tag || "").toLowerCase().split("-")[0];
  return p === "no" || p === "nn" ? "nb" : p;
}

// The page's language first, then the browser's; the server keeps it to the site's languages.
export const wanted = () => document.documentElement.lang || (navigator.languages || [])[0] || "";

// A language's built-in texts (English when there is no file for it), or null when they
// could not be loaded; each file is fetched once.
export function builtin(lang) {
  const name = FILES.find((f) => f.startsWith(`${primary(lang)}.`)) || FILES.find((f) => f.startsWith("en."));
  loading[name] =
    loading[name] ||
    fetch(new URL(`i18n/${name}.json`, state.base), { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : null))
      .catch(() => null);
  return loading[name];
}

// "2 kakor": the plural form of the language ({n} is the number), "other" when it has no own.
export function count(n, t) {
  const form = new Intl.PluralRules(state.config.language).select(n);
  return (t[`cookies_${form}`] || t.cookies_other || `${t.col_name} ({n})`).replace("{n}", n.toLocaleString(state.config.language));
}
