// Boot: load the configuration, apply a stored choice or ask, and act on the visitor's clicks.
import { unblock } from "./blocker.js";
import { granted, isCurrent, readChoice, writeChoice } from "./choice.js";
import { RECEIPT_KEY } from "./constants.js";
import { removeRefused } from "./cleanup.js";
import { consentDefault, consentUpdate } from "./gcm.js";
import { builtin, wanted } from "./i18n.js";
import { flush, send } from "./send.js";
import { state } from "./state.js";
import { close, hide, onKey, selected, show, toggleOpener } from "./ui.js";
import { el, safely, store, uuid4 } from "./util.js";

function emit(name, detail) {
  for (const fn of state.listeners[name]) safely(fn, detail);
}

export function getConsent() {
  const c = state.choice;
  if (!c || !state.config || !isCurrent(c)) return null;
  const decisions = {};
  for (const cat of state.config.categories) decisions[cat.key] = granted(cat.key);
  return { consentId: c.id, revision: c.rev, decisions, method: c.m, timestamp: new Date(c.t).toISOString() };
}

function apply() {
  const consent = getConsent();
  consentUpdate(consent.decisions);
  removeRefused();
  unblock();
  return consent;
}

export function choose(grants, method) {
  const cfg = state.config;
  if (!cfg) return null;
  const decisions = {};
  for (const cat of cfg.categories) decisions[cat.key] = cat.required || !!grants[cat.key];
  const before = JSON.stringify(getConsent() && getConsent().decisions);
  const d = {};
  for (const key in decisions) d[key] = decisions[key] ? 1 : 0;
  state.choice = { id: state.consentId, rev: cfg.revision, d, t: Date.now(), m: method };
  writeChoice(state.choice);
  const consent = apply();
  send({
    consent_id: state.consentId,
    revision: cfg.revision,
    decisions,
    method,
    language: cfg.language,
    page_url: location.href.split(/[?#]/)[0],
    gpc: !!navigator.globalPrivacyControl,
    // One per event and kept with it in the queue: a resend gets the receipt stored first.
    client_nonce: uuid4(),
  });
  hide();
  emit("consent", consent);
  if (before !== JSON.stringify(consent.decisions)) emit("change", consent);
  return consent;
}

function all(value) {
  const grants = {};
  for (const cat of state.config.categories) grants[cat.key] = value;
  return grants;
}

export const acceptAll = () => choose(all(true), "accept_all");
export function rejectAll() {
  // Refusing after having granted something is a withdrawal, recorded as such.
  const had = getConsent();
  const optional = state.config.categories.filter((c) => !c.required);
  return choose(all(false), had && optional.some((c) => had.decisions[c.key]) ? "withdraw" : "reject_all");
}

export function accept(categories) {
  const grants = {};
  for (const key of categories || []) grants[key] = true;
  const optional = state.config.categories.filter((c) => !c.required);
  const every = optional.every((c) => grants[c.key]);
  return choose(grants, every ? "accept_all" : "custom");
}

function download() {
  const receipt = store(RECEIPT_KEY);
  if (!receipt) return;
  const blob = new Blob([JSON.stringify(receipt, null, 2)], { type: "application/json" });
  const link = el("a", { href: URL.createObjectURL(blob), download: `consent-receipt-${receipt.receipt_id}.json` });
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1e4);
}

const actions = {
  "accept-all": acceptAll,
  "reject-all": rejectAll,
  preferences: () => show(true),
  save: () => {
    const picked = selected();
    accept(Object.keys(picked).filter((k) => picked[k]));
  },
  close,
  download,
};

function onClick(event) {
  const target = event.target.closest && event.target.closest("[data-cm-action],[data-cm-grant]");
  if (!target || !state.config) return;
  const grant = target.getAttribute("data-cm-grant");
  if (grant) {
    const consent = getConsent();
    const keys = consent ? Object.keys(consent.decisions).filter((k) => consent.decisions[k]) : [];
    accept(keys.concat(grant));
    return;
  }
  const action = actions[target.getAttribute("data-cm-action")];
  if (action) {
    event.preventDefault();
    safely(action);
  }
}

function loadCss(href) {
  return new Promise((done) => {
    const link = el("link", { rel: "stylesheet", href });
    if (state.nonce) link.nonce = state.nonce;
    link.onload = link.onerror = done;
    document.head.append(link);
  });
}

export function boot(options, cssHref) {
  consentDefault();
  state.site = options.site || "";
  state.api = String(options.api).replace(/\/$/, "");
  state.base = options.base;
  state.layout = options.layout;
  state.nonce = options.nonce || "";
  state.settingsButton = options.settingsButton !== false;
  const stored = readChoice();
  state.choice = stored;
  state.consentId = (stored && stored.id) || uuid4();
  const lang = wanted();
  const css = loadCss(new URL(cssHref, state.base).href);
  // The likely language file loads while the configuration does (the server has the last word).
  builtin(lang);
  const url = `${state.api}/api/v1/sites/${encodeURIComponent(state.site)}/config?lang=${encodeURIComponent(lang)}`;
  const getConfig = (own) =>
    fetch(url + own, { credentials: "omit" }).then((r) => {
      if (!r.ok) throw new Error(`config: HTTP ${r.status}`);
      return r.json();
    });
  // The site's own texts over the built-in ones; without the language file, the server's merge.
  const config = getConfig("&texts=own").then((cfg) =>
    builtin(cfg.language).then((base) => (base ? ((cfg.texts = { ...base, ...cfg.texts }), cfg) : getConfig(""))),
  );
  document.addEventListener("click", onClick);
  document.addEventListener("keydown", onKey);
  // A receipt that could not be delivered goes out on the next page view, or when back online.
  addEventListener("online", () => flush());
  return Promise.all([config, css])
    .then(([cfg]) => {
      state.config = cfg;
      flush();
      if (isCurrent(state.choice)) {
        const consent = apply();
        toggleOpener(true);
        emit("consent", consent);
      } else {
        return regionRule().then(ask);
      }
    })
    .catch((e) => console.warn("[consent]", e));
}

// The region rule of this visitor (docs/banner.md#region-rules); asked only when the server
// has region rules on and this revision declares one. Any failure means the banner.
function regionRule() {
  if (!state.config.region_lookup) return Promise.resolve("banner");
  const url = `${state.api}/api/v1/sites/${encodeURIComponent(state.site)}/region`;
  return fetch(url, { credentials: "omit", cache: "no-store" })
    .then((r) => (r.ok ? r.json() : {}))
    .then(
      (answer) => (["opt_out", "none"].includes(answer.rule) ? answer.rule : "banner"),
      () => "banner",
    );
}

// A visitor without a current choice: the banner, an opt-out notice, or (rule "none") nothing.
function ask(rule) {
  state.rule = rule;
  if (rule === "none") {
    // Not asked: no banner, no cookie, no receipt; blocked scripts stay blocked and Consent
    // Mode stays denied. ConsentManager.show() still lets the visitor choose.
    unblock();
  } else if (navigator.globalPrivacyControl) {
    // GPC is a refusal of everything not necessary (an opt-out too); the visitor may still opt in.
    choose({}, "gpc");
    show(false, true);
  } else if (rule === "opt_out") {
    // Granted until the visitor says no; nothing is stored or recorded until they act.
    const all = {};
    for (const cat of state.config.categories) all[cat.key] = true;
    consentUpdate(all);
    unblock();
    show(false);
  } else {
    unblock();
    show(false);
  }
}

export function on(name, callback) {
  if (state.listeners[name]) state.listeners[name].push(callback);
  // A late subscriber still learns about a choice that already exists.
  if (name === "consent" && getConsent()) safely(callback, getConsent());
}
