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
    if (!old.src) done();
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
      frame.hidden = true;
      frame.before(placeholder(category));
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
