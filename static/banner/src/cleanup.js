// Deletes cookies of refused categories that this page can reach.
import { granted } from "./choice.js";
import { state } from "./state.js";

function names() {
  return document.cookie
    .split("; ")
    .filter(Boolean)
    .map((pair) => pair.split("=")[0]);
}

function expire(name) {
  // A cookie may have been set for the host or any parent domain; try them all.
  const parts = location.hostname.split(".");
  const domains = [""];
  for (let i = 0; i < parts.length - 1; i++) domains.push(`; Domain=${parts.slice(i).join(".")}`);
  for (const domain of domains) {
    document.cookie = `${name}=; Max-Age=0; Path=/${domain}`;
  }
}

export function removeRefused() {
  const present = names();
  for (const cookie of state.config.cookies) {
    if (granted(cookie.category) || (cookie.storage && cookie.storage !== "cookie")) continue;
    if (cookie.name) {
      if (present.includes(cookie.name)) expire(cookie.name);
    } else if (cookie.name_pattern) {
      let re;
      try {
        re = new RegExp(cookie.name_pattern);
      } catch (e) {
        continue;
      }
      for (const name of present) if (re.test(name)) expire(name);
    }
  }
}
