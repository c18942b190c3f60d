// The outbox: every action is written to IndexedDB before it is sent, and removed only when
// the server has answered. A reload, a crash or a dropped network loses nothing; what could
// not be sent is sent again later with the same id, which the server applies once however
// often it arrives. Actions are sent through the offline sync's push endpoint
// (POST /api/v1/sync/push, docs/sync.md), the same one mobile apps use: each record becomes
// one change whose id is the record's id, and what waits goes in batches, oldest first.
// Refusals (e.g. someone else already moved the lot on) are kept in a second store until
// the operator has seen them; the server keeps them too (/sync/refused).

const DB_NAME = "qtrack";
const DB_VERSION = 1;
const PENDING = "outbox";
const REFUSED = "refused";
const PUSH_URL = "/api/v1/sync/push";
const BATCH = 50;
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

/** This browser's name for the server's records of refused changes. */
function deviceId() {
  try {
    let id = localStorage.getItem("qtrack-device");
    if (!id) {
      id = `web-${crypto.randomUUID().slice(0, 8)}`;
      localStorage.setItem("qtrack-device", id);
    }
    return id;
  } catch (err) {
    return "web";
  }
}

const ITEM_URL = /^\/api\/v1\/items\/([^/]+)\/(move|transitions|quantity|pack|unpack)$/;
const TYPES = { move: "move", transitions: "transition", quantity: "quantity", pack: "pack", unpack: "unpack" };

/** The push change a record stands for: its id is the record's id. */
export function toChange(record) {
  const { client_event_id: _id, occurred_at: occurredAt, ...rest } = record.body;
  const base = { id: record.id, occurred_at: occurredAt || new Date(record.created).toISOString() };
  if (record.url === "/api/v1/scan") return { ...base, type: "scan", scan: record.body };
  const found = ITEM_URL.exec(record.url);
  if (!found) return null;
  return { ...base, type: TYPES[found[2]], item: decodeURIComponent(found[1]), ...rest };
}

/** What a change's result means for the page: the scan's answer shape, or a refusal. */
function outcomeOf(record, result) {
  if (result.outcome === "applied") {
    const change = { item: result.item, events: result.events || [] };
    return { outcome: "sent", data: { item: result.item, result: change, message: "done" } };
  }
  const now = result.item ? ` (now ${String(result.item.status).replaceAll("_", " ")}${result.item.location ? ` at ${result.item.location}` : ""})` : "";
  return { outcome: "refused", message: `${result.message || result.code}${now}`, code: result.code, details: result.details };
}

/** Push records as one batch: one answer per record, or one for all when the batch failed. */
async function pushRecords(records) {
  const changes = [];
  const direct = [];
  for (const record of records) {
    const change = toChange(record);
    if (change) changes.push([record, change]);
    else direct.push(record);
  }
  const answers = new Map();
  for (const record of direct) answers.set(record.id, await post(record.url, record.body));
  if (changes.length) {
    const answer = await post(PUSH_URL, { device_id: deviceId(), changes: changes.map(([, c]) => c) });
    changes.forEach(([record], index) => {
      const result = answer.outcome === "sent" && answer.data && answer.data.results[index];
      answers.set(record.id, result ? outcomeOf(record, result) : answer);
    });
  }
  return answers;
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
    answer = (await pushRecords([record])).get(record.id);
  } finally {
    inFlight.delete(record.id);
  }
  return settleWith(record, answer, fromQueue);
}

async function settleWith(record, answer, fromQueue) {
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
    // Never send one person's scans as another's; skip what this tab is sending right now.
    const mine = (await pending()).filter((r) => r.user === user && !inFlight.has(r.id));
    let sent = 0;
    for (let start = 0; start < mine.length; start += BATCH) {
      const batch = mine.slice(start, start + BATCH);
      batch.forEach((r) => inFlight.add(r.id));
      let answers;
      try {
        answers = await pushRecords(batch);
      } finally {
        batch.forEach((r) => inFlight.delete(r.id));
      }
      let stop = false;
      for (const record of batch) {
        const answer = await settleWith(record, answers.get(record.id), true);
        if (answer.outcome === "offline" || answer.outcome === "retry") stop = true;
        else sent += 1;
      }
      if (stop) break;
    }
    return sent;
  })().finally(() => {
    flushing = null;
    changed({ type: "flushed" });
  });
  return flushing;
}
