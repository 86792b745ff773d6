// The visitor's choice in a first-party cookie, and whether it is still valid.
import { COOKIE, DAY } from "./constants.js";
import { state } from "./state.js";

export function readChoice() {
  const match = document.cookie.match(new RegExp(`(?:^|; )${COOKIE}=([^;]*)`));
  if (!match) return null;
  try {
    const choice = JSON.parse(decodeURIComponent(match[1]));
    return choice && choice.id && choice.d ? choice : null;
  } catch (e) {
    return null;
  }
}

export function writeChoice(choice) {
  const days = state.config.consent_lifetime_days;
  const secure = location.protocol === "https:" ? "; Secure" : "";
  document.cookie = `${COOKIE}=${encodeURIComponent(JSON.stringify(choice))}; Max-Age=${
    days * 86400
  }; Path=/; SameSite=Lax${secure}`;
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
  return !!(choice && isCurrent(choice) && choice.d[category]);
}
