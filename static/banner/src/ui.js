// The two layers: a first layer with equal accept and reject, and a settings dialog.
import { granted, isCurrent } from "./choice.js";
import { LAYOUTS, PREFIX, RECEIPT_KEY } from "./constants.js";
import { count } from "./i18n.js";
import { state } from "./state.js";
import { el, store } from "./util.js";

let returnFocus = null;

function button(action, label, extra) {
  return el("button", {
    type: "button",
    class: `${PREFIX}btn${extra ? ` ${PREFIX}${extra}` : ""}`,
    "data-cm-action": action,
    text: label,
  });
}

function lifetimeText(value, t) {
  if (value === "session") return t.session;
  // P2Y -> 2 y, P90D -> 90 d: short, language-neutral units.
  const m = /^P(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?/.exec(value);
  if (!m) return value;
  const units = ["y", "mo", "w", "d", "h", "min"];
  return units
    .map((u, i) => (m[i + 1] ? `${m[i + 1]} ${u}` : ""))
    .filter(Boolean)
    .join(" ");
}

function cookieTable(cookies, t) {
  if (!cookies.length) return null;
  const head = el("tr", {}, [t.col_name, t.col_provider, t.col_lifetime, t.col_purpose].map((h) => el("th", { scope: "col", text: h })));
  const rows = cookies.map((c) =>
    el("tr", {}, [c.name || c.name_pattern, c.provider, lifetimeText(c.lifetime, t), c.purpose].map((v) => el("td", { text: v || "" }))),
  );
  return el("details", {}, [
    el("summary", { text: count(cookies.length, t) }),
    el("table", {}, [el("thead", {}, [head]), el("tbody", {}, rows)]),
  ]);
}

function firstLayer(cfg, t, gpcApplied, modal) {
  const policy = cfg.policy_url ? el("a", { href: cfg.policy_url, text: t.policy_link }) : null;
  // The opt-out note stays on every redraw of the first layer (closing the settings redraws it).
  const optOut = !gpcApplied && state.rule === "opt_out" && !state.choice;
  const note = gpcApplied ? t.gpc_note : optOut ? t.opt_out_note : null;
  const attrs = { class: `${PREFIX}l1`, role: "dialog", "aria-modal": modal && "true", "aria-labelledby": `${PREFIX}t`, "aria-describedby": `${PREFIX}d`, tabindex: "-1" };
  return el("div", attrs, [
    el("h2", { id: `${PREFIX}t`, text: t.title }),
    el("p", { id: `${PREFIX}d` }, [t.body, policy ? " " : null, policy]),
    note ? el("p", { class: optOut ? `${PREFIX}gpc ${PREFIX}region` : `${PREFIX}gpc`, text: note }) : null,
    el("div", { class: `${PREFIX}row` }, [button("accept-all", t.accept_all), button("reject-all", t.reject_all), button("preferences", t.settings, "link")]),
  ]);
}

function receiptBlock(t) {
  const choice = state.choice;
  if (!choice) return null;
  const when = new Date(choice.t).toLocaleString(state.config.language);
  const receipt = store(RECEIPT_KEY);
  return el("div", { class: `${PREFIX}rc` }, [
    el("p", {}, [`${t.consent_id}: `, el("code", { text: choice.id })]),
    el("p", { text: `${t.choice_date}: ${when}` }),
    receipt ? el("button", { type: "button", class: `${PREFIX}btn ${PREFIX}link`, "data-cm-action": "download", text: t.download_receipt }) : null,
  ]);
}

function secondLayer(cfg, t) {
  const cats = cfg.categories.map((c) => {
    const id = `${PREFIX}c-${c.key}`;
    const input = el("input", { type: "checkbox", role: "switch", id, "data-cm-cat": c.key, checked: c.required || granted(c.key), disabled: c.required, "aria-describedby": `${id}-d` });
    return el("div", { class: `${PREFIX}cat` }, [
      el("div", { class: `${PREFIX}row` }, [input, el("label", { for: id, text: c.title }), c.required ? el("span", { class: `${PREFIX}on`, text: t.always_on }) : null]),
      el("p", { id: `${id}-d`, text: c.description }),
      cookieTable(cfg.cookies.filter((k) => k.category === c.key), t),
    ]);
  });
  return el("div", { class: `${PREFIX}l2`, role: "dialog", "aria-modal": "true", "aria-labelledby": `${PREFIX}t2`, tabindex: "-1", hidden: true }, [
    el("div", { class: `${PREFIX}head` }, [el("h2", { id: `${PREFIX}t2`, text: t.settings_title }), el("button", { type: "button", class: `${PREFIX}x`, "data-cm-action": "close", "aria-label": t.close, text: "×" })]),
    el("p", { text: t.settings_body }),
    ...cats,
    receiptBlock(t),
    el("div", { class: `${PREFIX}row` }, [button("accept-all", t.accept_all), button("reject-all", t.reject_all), button("save", t.save)]),
  ]);
}

function remove() {
  if (state.root) state.root.remove();
  state.root = null;
}

// The script tag's (or start()'s) layout over the declared one; an unknown name is ignored.
function layoutOf(cfg) {
  return [state.layout, cfg.layout].find((l) => LAYOUTS.includes(l)) || "bar";
}

export function render(gpcApplied) {
  const cfg = state.config;
  const t = cfg.texts;
  remove();
  const layout = layoutOf(cfg);
  const root = el("div", { id: "cm-banner", class: `${PREFIX.slice(0, -1)} ${PREFIX}${layout}`, lang: cfg.language }, [
    firstLayer(cfg, t, gpcApplied, layout === "modal"),
    secondLayer(cfg, t),
  ]);
  state.root = root;
  document.body.append(root);
  return root;
}

export function show(preferences, gpcApplied) {
  // Remember where the visitor was only when the banner opens, not when it switches layers.
  if (!state.root) returnFocus = document.activeElement;
  const root = render(gpcApplied);
  const l1 = root.firstChild;
  const l2 = root.lastChild;
  l1.hidden = !!preferences;
  l2.hidden = !preferences;
  root.classList.toggle(`${PREFIX}over`, !!preferences || layoutOf(state.config) === "modal");
  (preferences ? l2 : l1).focus();
  toggleOpener(false);
}

export function hide() {
  const open = state.root;
  remove();
  // The "cookie settings" control must be visible again before focus can return to it.
  if (isCurrent(state.choice)) toggleOpener(true);
  if (open && returnFocus && returnFocus.isConnected) returnFocus.focus();
  returnFocus = null;
}

export function selected() {
  const out = {};
  for (const input of state.root.querySelectorAll("[data-cm-cat]")) out[input.getAttribute("data-cm-cat")] = input.checked;
  return out;
}

export function toggleOpener(visible) {
  let opener = document.getElementById(`${PREFIX}open`);
  if (!state.settingsButton) return;
  if (!opener && visible) {
    opener = button("preferences", state.config.texts.cookie_settings, "open");
    opener.id = `${PREFIX}open`;
    document.body.append(opener);
  }
  if (opener) opener.hidden = !visible;
}

// Closes the settings: back to the first layer while the visitor has no valid choice
// (first visit, new revision, expired), otherwise the banner goes away.
export function close() {
  if (isCurrent(state.choice)) hide();
  else show(false);
}

export function onKey(event) {
  // Listens on the document, so the trap holds even after a click moved focus out of it.
  // The trap is on the open modal layer: the settings, or the first layer of the modal layout.
  const root = state.root;
  const l2 = root && [...root.children].find((n) => !n.hidden && n.getAttribute("aria-modal"));
  if (!l2) return;
  if (event.key === "Escape") {
    // Only the settings close: the modal first layer waits for a choice.
    if (l2 === root.lastChild) {
      event.preventDefault();
      close();
    }
  } else if (event.key === "Tab") {
    const items = [...l2.querySelectorAll("button, input:not([disabled]), summary, a[href]")].filter((n) => n.offsetParent);
    const first = items[0];
    const last = items[items.length - 1];
    const active = document.activeElement;
    const inside = active !== l2 && l2.contains(active);
    if (event.shiftKey ? !inside || active === first : !inside || active === last) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  }
}
