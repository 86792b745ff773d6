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

let sending = Promise.resolve();

function deliver() {
  const queue = store(QUEUE_KEY) || [];
  const done = [];
  let chain = Promise.resolve();
  for (const body of queue) {
    chain = chain.then(() => post(body).then(() => done.push(JSON.stringify(body)), () => 0));
  }
  return chain.then(() => {
    if (!done.length) return;
    // Remove only what went out: a choice made meanwhile (or another tab) may have queued more.
    const left = store(QUEUE_KEY) || [];
    for (const sent of done) {
      const i = left.findIndex((b) => JSON.stringify(b) === sent);
      if (i >= 0) left.splice(i, 1);
    }
    store(QUEUE_KEY, left.length ? left : null);
  });
}

export function flush() {
  // One delivery at a time, or a receipt queued during a delivery would be posted twice.
  sending = sending.then(deliver, deliver);
  return sending;
}
