// Runs blocked scripts and loads blocked iframes once their category is granted.
import { granted } from "./choice.js";
import { PREFIX } from "./constants.js";
import { state } from "./state.js";
import { el } from "./util.js";

let queue = Promise.resolve();

function runScript(old) {
  return new Promise((done) => {
    const script = document.createElement("script");
    for (const { name, value } of old.attributes) {
      if (name !== "type" && name !== "data-type") script.setAttribute(name, value);
    }
    const type = old.getAttribute("data-type");
    if (type) script.type = type;
    if (old.nonce || state.nonce) script.nonce = old.nonce || state.nonce;
    if (old.src) {
      // Wait for each external script so blocked scripts run in document order.
      script.async = false;
      script.onload = script.onerror = done;
    } else {
      script.text = old.text;
    }
    old.replaceWith(script);
    // A script the page removed meanwhile never loads: do not let it stall the ones after it.
    if (!script.src || !script.isConnected) done();
  });
}

export function unblock() {
  const scripts = document.querySelectorAll('script[type="text/plain"][data-category]');
  for (const old of scripts) {
    if (!granted(old.getAttribute("data-category"))) continue;
    // Swap the type now so a second call never runs the same script twice.
    old.type = "text/x-cm-running";
    queue = queue.then(() => runScript(old));
  }
  for (const frame of document.querySelectorAll("iframe[data-src][data-category]")) {
    const category = frame.getAttribute("data-category");
    const holder = frame.previousElementSibling;
    const hasHolder = holder && holder.classList.contains(`${PREFIX}ph`);
    if (granted(category)) {
      frame.src = frame.getAttribute("data-src");
      frame.removeAttribute("data-src");
      frame.hidden = false;
      if (hasHolder) holder.remove();
    } else if (!hasHolder) {
      // The placeholder takes the frame's box, so the page does not shift around it
      // (only a rendered frame has one: one in a closed tab keeps the default size).
      const ph = placeholder(category);
      if (frame.offsetWidth) {
        const display = getComputedStyle(frame).display;
        ph.style.display = display === "inline" ? "inline-block" : display;
        ph.style.width = `${frame.offsetWidth}px`;
        ph.style.minHeight = `${frame.offsetHeight}px`;
      }
      frame.hidden = true;
      frame.before(ph);
    }
  }
}

function placeholder(category) {
  const cfg = state.config;
  const cat = cfg.categories.find((c) => c.key === category);
  const title = cat ? cat.title : category;
  return el("div", { class: `${PREFIX}ph` }, [
    el("p", { text: `${cfg.texts.blocked || "🔒"} ${title}` }),
    el("button", {
      type: "button",
      class: `${PREFIX}btn`,
      "data-cm-grant": category,
      text: `${cfg.texts.allow || "OK"}: ${title}`,
    }),
  ]);
}
