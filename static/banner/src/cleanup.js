// Deletes cookies of refused categories that this page can reach.
import { cookieDomain, granted } from "./choice.js";
import { state } from "./state.js";

function names() {
  return document.cookie
    .split("; ")
    .filter(Boolean)
    .map((pair) => pair.split("=")[0]);
}

function within(domain) {
  const host = location.hostname.toLowerCase();
  return host === domain || host.endsWith(`.${domain}`);
}

// A cookie is deleted only with the Domain and Path it was set with, and the page cannot see
// either: try host-only, the host and each parent domain, the site's cookie_domain (also in
// its leading-dot form) and the cookie's declared domain, on "/" and each directory of the page.
function targets(declared) {
  const parts = location.hostname.split(".");
  const domains = [""];
  for (let i = 0; i < parts.length - 1; i++) domains.push(parts.slice(i).join("."));
  const shared = cookieDomain();
  if (shared) domains.push(shared, `.${shared}`);
  if (declared) {
    const bare = declared.replace(/^\./, "").toLowerCase();
    if (within(bare)) domains.push(bare, `.${bare}`);
  }
  const paths = ["/"];
  const dirs = location.pathname.split("/").filter(Boolean);
  for (let i = 1; i <= dirs.length; i++) paths.push(`/${dirs.slice(0, i).join("/")}`);
  const out = [];
  for (const domain of new Set(domains)) {
    for (const path of paths) out.push(`; Path=${path}${domain ? `; Domain=${domain}` : ""}`);
  }
  return out;
}

function expire(name, declared) {
  for (const target of targets(declared)) document.cookie = `${name}=; Max-Age=0${target}`;
}

export function removeRefused() {
  const present = names();
  for (const cookie of state.config.cookies) {
    if (granted(cookie.category) || (cookie.storage && cookie.storage !== "cookie")) continue;
    if (cookie.name) {
      if (present.includes(cookie.name)) expire(cookie.name, cookie.domain);
    } else if (cookie.name_pattern) {
      let re;
      try {
        re = new RegExp(cookie.name_pattern);
      } catch (e) {
        continue;
      }
      for (const name of present) if (re.test(name)) expire(name, cookie.domain);
    }
  }
}
