// Delivers receipts to the server; one that cannot be delivered waits in localStorage.
import { QUEUE_KEY, RECEIPT_KEY } from "./constants.js";
import { state } from "./state.js";
import { store } from "./util.js";

function post(body) {
  return fetch(`${state.api}/api/v1/sites/${encodeURIComponent(state.site)}/consents`, {
    method: "POST",
    keepalive: true,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  }).then((res) => {
    if (res.ok) return res.json().then((out) => store(RECEIPT_KEY, out));
    // A refused receipt (4xx) will never be accepted; anything else is retried later.
    if (res.status < 500 && res.status !== 429 && res.status !== 408) return;
    throw new Error(`HTTP ${res.status}`);
  });
}

export function send(body) {
  const queue = store(QUEUE_KEY) || [];
  queue.push(body);
  store(QUEUE_KEY, queue);
  return flush();
}

export function flush() {
  const queue = store(QUEUE_KEY) || [];
  if (!queue.length) return Promise.resolve();
  let chain = Promise.resolve();
  const left = [];
  for (const body of queue) {
    chain = chain.then(() => post(body).catch(() => left.push(body)));
  }
  return chain.then(() => store(QUEUE_KEY, left.length ? left : null));
}
