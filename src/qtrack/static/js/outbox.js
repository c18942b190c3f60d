// The outbox: every action is written to IndexedDB before it is sent, and removed only when
// the server has answered. A reload, a crash or a dropped network loses nothing; what could
// not be sent is sent again later with the same client_event_id, which the server applies
// once however often it arrives. Refusals (e.g. someone else already moved the lot on) are
// kept in a second store until the operator has seen them.

const DB_NAME = "qtrack";
const DB_VERSION = 1;
const PENDING = "outbox";
const REFUSED = "refused";
const channel = "BroadcastChannel" in window ? new BroadcastChannel("qtrack-outbox") : null;
const listeners = new Set();
let dbPromise = null;
let flushing = null;
const inFlight = new Set(); // ids being sent by this tab right now

function openDb() {
  if (!dbPromise) {
    dbPromise = new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, DB_VERSION);
      request.onupgradeneeded = () => {
        const db = request.result;
        if (!db.objectStoreNames.contains(PENDING)) {
          db.createObjectStore(PENDING, { keyPath: "id" }).createIndex("created", "created");
        }
        if (!db.objectStoreNames.contains(REFUSED)) {
          db.createObjectStore(REFUSED, { keyPath: "id" }).createIndex("created", "created");
        }
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }
  return dbPromise;
}

async function tx(store, mode, work) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const transaction = db.transaction(store, mode);
    const result = work(transaction.objectStore(store));
    transaction.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
}

function changed(detail) {
  for (const listener of listeners) listener(detail);
  if (channel) channel.postMessage(detail);
}
if (channel) channel.onmessage = (event) => listeners.forEach((listener) => listener(event.data));

/** Call `listener({type, record, ...})` when the outbox changes (in this tab or another). */
export function subscribe(listener) {
  listeners.add(listener);
}

export function currentUser() {
  return document.body.dataset.username || "";
}

function csrfToken() {
  return document.body.dataset.csrf || "";
}

/** A new record: what to POST where, for whom, with a fresh client event id. */
export function makeRecord(url, body, label) {
  const id = crypto.randomUUID();
  return {
    id,
    user: currentUser(),
    url,
    body: { ...body, client_event_id: id, occurred_at: new Date().toISOString() },
    label,
    created: Date.now(),
  };
}

export const add = (record) => tx(PENDING, "readwrite", (s) => s.put(record)).then(() => changed({ type: "added", record }));
const remove = (id) => tx(PENDING, "readwrite", (s) => s.delete(id));
export const pending = () => tx(PENDING, "readonly", (s) => s.index("created").getAll());
export const refused = () => tx(REFUSED, "readonly", (s) => s.index("created").getAll());
export const clearRefused = () => tx(REFUSED, "readwrite", (s) => s.clear()).then(() => changed({ type: "cleared" }));

/** How many of this user's actions wait to be sent. */
export async function waitingCount() {
  const user = currentUser();
  return (await pending()).filter((r) => r.user === user).length;
}

/**
 * POST one record. The answer: {outcome: "sent", data} | {outcome: "refused", message, code}
 * | {outcome: "offline"} | {outcome: "retry", message} (server trouble, or a lapsed login).
 */
export async function post(url, body) {
  let response;
  try {
    response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken(), Accept: "application/json" },
      body: JSON.stringify(body),
    });
  } catch (err) {
    return { outcome: "offline" };
  }
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (response.ok) return { outcome: "sent", data };
  const error = (data && data.error) || {};
  const message = error.message || `The server answered ${response.status}`;
  if (response.status === 401) return { outcome: "retry", message: "Log in again to send it" };
  if (response.status === 408 || response.status === 429 || response.status >= 500) {
    return { outcome: "retry", message };
  }
  if (response.status === 403 && error.code === "csrf_failed") {
    return { outcome: "retry", message: "Reload the page to send it" };
  }
  return { outcome: "refused", message, code: error.code, details: error.details };
}

/** Keep the record, send it, and settle it: the one path every action takes. */
export async function submit(record) {
  await add(record);
  if (!navigator.onLine) return { outcome: "offline" };
  return settle(record);
}

async function settle(record, fromQueue = false) {
  if (inFlight.has(record.id)) return { outcome: "retry", message: "Being sent" };
  inFlight.add(record.id);
  let answer;
  try {
    answer = await post(record.url, record.body);
  } finally {
    inFlight.delete(record.id);
  }
  if (answer.outcome === "sent") {
    await remove(record.id);
    changed({ type: "sent", record, data: answer.data, fromQueue });
  } else if (answer.outcome === "refused") {
    await remove(record.id);
    if (fromQueue) {
      const kept = { ...record, message: answer.message, code: answer.code, refusedAt: Date.now() };
      await tx(REFUSED, "readwrite", (s) => s.put(kept));
    }
    changed({ type: "refused", record, message: answer.message, fromQueue });
  }
  return answer;
}

/** Send everything this user has waiting, oldest first; one flush at a time per tab. */
export function flush() {
  if (flushing) return flushing;
  flushing = (async () => {
    const user = currentUser();
    let sent = 0;
    for (const record of await pending()) {
      if (record.user !== user) continue; // never send one person's scans as another's
      const answer = await settle(record, true);
      if (answer.outcome === "offline" || answer.outcome === "retry") break;
      sent += 1;
    }
    return sent;
  })().finally(() => {
    flushing = null;
    changed({ type: "flushed" });
  });
  return flushing;
}
