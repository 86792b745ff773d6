// Small helpers: element creation without HTML parsing, ids, safe event calls.

export function el(tag, attrs, children) {
  const node = document.createElement(tag);
  for (const key in attrs || {}) {
    const value = attrs[key];
    if (value === false || value == null) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children || []) if (child) node.append(child);
  return node;
}

export function uuid4() {
  // getRandomValues works on plain http too, where crypto.randomUUID does not exist.
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = [...b].map((x) => (x + 256).toString(16).slice(1)).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

export function safely(fn, ...args) {
  // Nothing inside the banner may break the host page.
  try {
    return fn(...args);
  } catch (e) {
    console.warn("[consent]", e);
  }
}

// Values that localStorage refused (blocked site data, quota full): kept for this page view,
// so a receipt is still sent even when it cannot wait for a later one.
const memory = {};

export function store(key, value) {
  try {
    if (value === undefined) return key in memory ? memory[key] : JSON.parse(localStorage.getItem(key));
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, JSON.stringify(value));
    delete memory[key];
  } catch (e) {
    if (value !== undefined) memory[key] = value;
  }
}
