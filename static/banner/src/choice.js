// The visitor's choice in a first-party cookie, and whether it is still valid.
import { COOKIE, DAY } from "./constants.js";
import { state } from "./state.js";

export function readChoice() {
  // The same name may be there twice (host-only and for the cookie_domain, after the
  // declaration changed it): the latest choice counts, whichever order the browser sends.
  let latest = null;
  const re = new RegExp(`(?:^|; )${COOKIE}=([^;]*)`, "g");
  let match;
  while ((match = re.exec(document.cookie))) {
    try {
      const choice = JSON.parse(decodeURIComponent(match[1]));
      if (choice && choice.id && choice.d && (!latest || choice.t > latest.t)) latest = choice;
    } catch (e) {
      // an unreadable copy is skipped
    }
  }
  return latest;
}

let warned = false;

// The declared cookie_domain when this page is on it or below it, else "" (host-only).
export function cookieDomain() {
  const domain = state.config && state.config.cookie_domain;
  if (!domain) return "";
  const host = location.hostname.toLowerCase();
  if (host === domain || host.endsWith(`.${domain}`)) return domain;
  if (!warned) {
    warned = true;
    console.warn(`[consent] ${host} is not within cookie_domain ${domain}: the choice is kept for this host only`);
  }
  return "";
}

export function writeChoice(choice) {
  const days = state.config.consent_lifetime_days;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  const domain = cookieDomain();
  // A host-only copy from before cookie_domain was declared would be sent next to this one.
  if (domain) document.cookie = `${COOKIE}=; Max-Age=0; Path=/`;
  document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(choice))}; Max-Age=${
    days * 86400
  }; Path=/${domain ? `; Domain=${domain}` : ""}; SameSite=Lax${secure}`;
}

export function isCurrent(choice) {
  // Ask again on a new revision or once the consent lifetime has passed.
  const cfg = state.config;
  return (
    !!choice && choice.rev === cfg.revision && Date.now() - choice.t < cfg.consent_lifetime_days * DAY
  );
}

export function granted(category) {
  const cat = state.config && state.config.categories.find((c) => c.key === category);
  if (cat && cat.required) return true;
  const choice = state.choice;
  // Without a current choice only an opt-out region rule grants (until the visitor says no).
  if (!choice || !isCurrent(choice)) return state.rule === "opt_out";
  return !!choice.d[category];
}
