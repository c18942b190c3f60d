// The scan screen: one input that always has focus, four modes, instant feedback, undo, and
// an outbox so no action is lost when the network is.
import * as outbox from "./outbox.js";
import { signal } from "./feedback.js";
import { createCamera } from "./camera.js";
import { createActMode } from "./scan-act.js";

const SCAN_URL = "/api/v1/scan";
const STATE_KEY = "qtrack.scan.state";
const HISTORY_KEY = "qtrack.scan.history";
const HISTORY_SIZE = 25;

const $ = (id) => document.getElementById(id);
const input = $("scan-input");
const form = $("scan-form");
const outcomeBox = $("outcome");
const resultBox = $("result");
const historyList = $("history");
const undoButton = $("undo");
const config = JSON.parse($("scan-config").textContent);
const user = outbox.currentUser();

function load(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(`${key}.${user}`));
    return value === null ? fallback : value;
  } catch (err) {
    return fallback;
  }
}
function save(key, value) {
  try { localStorage.setItem(`${key}.${user}`, JSON.stringify(value)); } catch (err) { /* full */ }
}

// What survives a reload: the mode, the location or container being filled, the scans.
const state = Object.assign({ mode: "lookup", putaway: null, pack: null, act: null, shipment: null }, load(STATE_KEY, {}));
if (!config.modes.includes(state.mode)) state.mode = "lookup";
let scans = load(HISTORY_KEY, []); // the last scans, newest first
let lastUndo = null; // {label, url, body} of the last action that can be taken back

// --- rendering ----------------------------------------------------------------------------

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

function showOutcome(kind, message) {
  outcomeBox.className = `outcome outcome-${kind}`;
  outcomeBox.dataset.outcome = kind;
  outcomeBox.textContent = message;
}

function renderHistory() {
  historyList.replaceChildren(
    ...scans.map((entry) =>
      el(
        "li",
        { class: `outcome-${entry.outcome}`, "data-outcome": entry.outcome },
        el("span", { class: "history-mark", text: { ok: "✓", queued: "…", unknown: "?", refused: "✗" }[entry.outcome] || "" }),
        el("span", { class: "history-text", text: entry.message }),
        el("time", { class: "muted", datetime: new Date(entry.at).toISOString(), text: new Date(entry.at).toLocaleTimeString() }),
      ),
    ),
  );
  undoButton.disabled = lastUndo === null;
  undoButton.textContent = lastUndo ? `Undo: ${lastUndo.label}` : "Undo last action";
  renderPrintRecent();
}

// The items of the listed scans, newest first, each once: their labels in one PDF.
function renderPrintRecent() {
  const link = $("print-recent");
  if (!link) return;
  const codes = [...new Set(scans.filter((entry) => entry.code).map((entry) => entry.code))];
  link.hidden = codes.length === 0;
  link.href = labelsUrl(codes);
  link.textContent = codes.length === 1 ? "Print the label of the last scan" : `Print labels for the last scans (${codes.length})`;
}

function labelsUrl(codes) {
  return `/api/v1/labels.pdf?items=${encodeURIComponent(codes.join(","))}`;
}

function remember(outcome, message, extra = {}) {
  scans.unshift({ outcome, message, at: Date.now(), ...extra });
  scans = scans.slice(0, HISTORY_SIZE);
  save(HISTORY_KEY, scans);
  renderHistory();
}

function report(kind, message, extra) {
  signal(kind);
  showOutcome(kind, message);
  remember(kind, message, extra);
}

// A quantity as every page writes it: plain digits, no trailing zeros ("20 kg", not
// "20.000000 kg"), like qtrack.core.quantities.format_quantity.
function formatQuantity(value, unit) {
  let text = String(value);
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    if (text.includes(".")) text = text.replace(/0+$/, "").replace(/\.$/, "");
  } else if (Number.isFinite(Number(text))) {
    text = String(Number(text));
  }
  return unit ? `${text} ${unit}` : text;
}

// A state as people know it ("Under test"), from the workflows the page was rendered with.
function stateName(type, status) {
  return (config.states || {})[`${type} ${status}`] || status.replaceAll("_", " ");
}

function showItem(item, note) {
  resultBox.hidden = false;
  const fields = el("dl", { class: "fields" });
  const add = (label, value) => {
    if (value === null || value === undefined || value === "") return;
    fields.append(el("dt", { text: label }), el("dd", { text: String(value) }));
  };
  add("Type", (config.types || {})[item.type] || item.type);
  add("Status", stateName(item.type, item.status));
  add("Location", item.location);
  add("In", item.container);
  if (item.quantity !== null) add("Quantity", formatQuantity(item.quantity, item.unit));
  add("Batch", item.batch);
  add("Expires", item.expiry_on);
  const parts = [
    el("h2", {}, el("a", { href: `/items/${encodeURIComponent(item.code)}`, text: item.code })),
    item.name ? el("p", { class: "lead", text: item.name }) : null,
    fields,
    note ? el("p", { class: "muted", text: note }) : null,
    config.can_print
      ? el("p", {}, el("a", { class: "button", id: "print-label", href: labelsUrl([item.code]), target: "_blank", rel: "noopener", text: "Print label" }))
      : null,
  ];
  resultBox.replaceChildren(...parts.filter(Boolean));
}

function showLocation(location) {
  resultBox.hidden = false;
  resultBox.replaceChildren(
    el("h2", { text: `Location ${location.code}` }),
    el("p", { text: `${location.name} (${location.kind})` }),
    el("p", {}, el("a", { href: `/items?location=${encodeURIComponent(location.code)}`, text: "What is here" })),
  );
}

function renderMode() {
  for (const radio of document.querySelectorAll('input[name="mode"]')) radio.checked = radio.value === state.mode;
  for (const mode of ["putaway", "pack", "act", "shipment"]) {
    const panel = $(`panel-${mode}`);
    if (panel) panel.hidden = state.mode !== mode;
  }
  if ($("putaway-target")) {
    $("putaway-target").textContent = state.putaway ? `${state.putaway.code} · ${state.putaway.name}` : "none yet, scan a location";
  }
  if ($("pack-target")) {
    $("pack-target").textContent = state.pack ? `${state.pack.code}${state.pack.name ? ` · ${state.pack.name}` : ""}` : "none yet, scan a container";
  }
  actMode.render();
  if ($("shipment-target")) {
    $("shipment-target").textContent = state.shipment || "none yet, scan the bill's code";
  }
  document.body.dataset.mode = state.mode;
  save(STATE_KEY, state);
}

async function renderOutbox() {
  let waiting = [];
  let refused = [];
  try {
    waiting = (await outbox.pending()).filter((r) => r.user === user);
    refused = (await outbox.refused()).filter((r) => r.user === user);
  } catch (err) {
    $("outbox-note").textContent = "This browser cannot keep scans offline (no IndexedDB).";
  }
  $("outbox-count").textContent = String(waiting.length);
  $("outbox-list").replaceChildren(...waiting.map((r) => el("li", { "data-id": r.id, text: r.label })));
  $("refused").hidden = refused.length === 0;
  $("refused-list").replaceChildren(
    ...refused.map((r) => el("li", { class: "outcome-refused", "data-id": r.id }, el("strong", { text: r.label }), document.createTextNode(` — ${r.message}`))),
  );
}

// --- talking to the server ------------------------------------------------------------------

let symbology = null; // of the scan being handled, when the camera knew it

function scanBody(data, extra = {}) {
  return symbology ? { data, symbology, ...extra } : { data, ...extra };
}

async function lookup(data, extra = {}) {
  return outbox.post(SCAN_URL, scanBody(data, extra));
}

/** What the scan's answer warns of (expired, or another lot to use first), as one sentence. */
function warningsOf(data) {
  const warnings = (data && data.warnings) || [];
  return warnings.map((w) => w.message).join(" ");
}

/** What an action did, and how to take it back if the workflow allows it. */
function undoFor(record, data) {
  const action = record.body.action;
  const item = data && data.item;
  const event = data && data.result && data.result.events && data.result.events[0];
  if (!item || !event) return null;
  const before = event.before || {};
  if (action && action.kind === "move") {
    if (!before.location) return null; // it was nowhere: there is no place to put it back
    return { label: `${item.code} back to ${before.location}`, url: SCAN_URL, body: { data: item.code, action: { kind: "move", location: before.location, reason: "Undo" } } };
  }
  if (action && action.kind === "pack") {
    if (before.container) {
      return { label: `${item.code} back into ${before.container}`, url: SCAN_URL, body: { data: item.code, action: { kind: "pack", container: before.container } } };
    }
    return { label: `${item.code} out of ${action.container}`, url: `/api/v1/items/${encodeURIComponent(item.code)}/unpack`, body: { reason: "Undo" } };
  }
  if (action && action.kind === "dispense") {
    return { label: `${item.code} give back ${action.amount}`, url: `/api/v1/items/${encodeURIComponent(item.code)}/quantity`, body: { kind: "receive", amount: action.amount, reason: "Undo of a dispense" } };
  }
  if (action && action.kind === "transition" && before.status) {
    return { label: `${item.code} back to ${stateName(item.type, before.status)}`, transitionBack: { code: item.code, to: before.status } };
  }
  return null;
}

function settled(record, answer, { live }) {
  if (answer.outcome === "sent") {
    const data = answer.data || {};
    const item = data.item || (data.result && data.result.item);
    if (live && item) showItem(item);
    lastUndo = live ? undoFor(record, data) : lastUndo;
    const warned = warningsOf(data);
    report(warned ? "unknown" : "ok", `${record.label}: done${warned ? ` — ${warned}` : ""}`, { code: item && item.code });
  } else if (answer.outcome === "refused") {
    report(answer.code === "nothing_to_act_on" ? "unknown" : "refused", `${record.label}: ${answer.message}`);
  } else {
    report("queued", `${record.label}: kept, will be sent when the network is back`);
  }
}

async function act(action, data, label) {
  // A password is never written to storage: signing needs the network now.
  if (action.password) {
    const answer = await outbox.post(SCAN_URL, { ...scanBody(data, { action }), client_event_id: crypto.randomUUID(), occurred_at: new Date().toISOString() });
    if (answer.outcome === "offline" || answer.outcome === "retry") {
      report("refused", `${label}: not done, signing needs the network${answer.message ? ` (${answer.message})` : ""}`);
      return null;
    }
    settled({ label, body: { data, action } }, answer, { live: true });
    return answer;
  }
  const record = outbox.makeRecord(SCAN_URL, scanBody(data, { action }), label);
  let answer;
  try {
    answer = await outbox.submit(record);
  } catch (err) {
    // No IndexedDB: send without a safety net rather than not at all.
    answer = await outbox.post(record.url, record.body);
  }
  settled(record, answer, { live: true });
  return answer;
}

async function chooseTarget(kind, data) {
  const answer = await lookup(data);
  if (answer.outcome !== "sent") {
    report(answer.outcome === "refused" ? "refused" : "unknown", answer.outcome === "refused" ? answer.message : `${data}: choosing a ${kind === "putaway" ? "location" : "container"} needs the network`);
    return;
  }
  const result = answer.data;
  if (kind === "putaway" && result.matched === "location") {
    state.putaway = { code: result.location.code, name: result.location.name };
    showLocation(result.location);
    report("ok", `Putting away into ${result.location.code}: now scan the items`);
  } else if (kind === "pack" && result.matched === "item") {
    state.pack = { code: result.item.code, name: result.item.name };
    showItem(result.item, "Now scan what goes into it.");
    report("ok", `Packing into ${result.item.code}: now scan the items`);
  } else {
    report("unknown", `${data}: ${kind === "putaway" ? "not a location — scan a location first" : "not an item — scan the container first"}`);
  }
  renderMode();
}

async function handleScan(raw, { forceLookup = false, symbologyId = null } = {}) {
  const data = raw.replace(/[\r\n]+$/, "");
  symbology = symbologyId;
  if (!data.trim()) return;
  const mode = forceLookup ? "lookup" : state.mode;
  if (mode === "lookup") {
    const answer = await lookup(data);
    if (answer.outcome === "sent") {
      const result = answer.data;
      if (result.matched === "item") {
        showItem(result.item);
        const warned = warningsOf(result);
        report(warned ? "unknown" : "ok", `${result.item.code}: ${stateName(result.item.type, result.item.status)}${result.item.location ? ` at ${result.item.location}` : ""}${warned ? ` — ${warned}` : ""}`, { code: result.item.code });
      } else if (result.matched === "location") {
        showLocation(result.location);
        report("ok", `Location ${result.location.code}`);
      } else {
        resultBox.hidden = true;
        report("unknown", `${data}: ${result.message}`);
      }
    } else if (answer.outcome === "refused") {
      report("refused", `${data}: ${answer.message}`);
    } else {
      report("unknown", `${data}: looking up needs the network`);
    }
    return;
  }
  if (mode === "putaway") {
    if (!state.putaway) return chooseTarget("putaway", data);
    const answer = await act({ kind: "move", location: state.putaway.code }, data, `${data} → ${state.putaway.code}`);
    if (answer && answer.outcome === "refused" && answer.code === "nothing_to_act_on" && answer.details && answer.details.matched === "location") {
      return chooseTarget("putaway", data); // a new location: fill that one from now on
    }
    return;
  }
  if (mode === "pack") {
    if (!state.pack) return chooseTarget("pack", data);
    if (data.trim().toUpperCase() === state.pack.code) return report("unknown", `${data} is the container itself`);
    await act({ kind: "pack", container: state.pack.code }, data, `${data} into ${state.pack.code}`);
    return;
  }
  if (mode === "shipment") return shipmentScan(data);
  await actMode.scan(data);
}

// Shipment mode: the bill's code, then containers. Online only: a bill is built at the dock,
// and each scan's answer (added, or refused and why) matters before the next one.
async function shipmentCall(path, body) {
  try {
    const response = await fetch(path, {
      method: body ? "POST" : "GET",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": document.body.dataset.csrf || "" },
      body: body ? JSON.stringify(body) : undefined,
    });
    return { ok: response.ok, json: await response.json() };
  } catch (err) {
    return { ok: false, json: null };
  }
}

async function shipmentScan(data, undoLast = false) {
  if (!state.shipment) {
    const ref = data.trim().replace(/\/+$/, "").split("/").pop();
    const { ok, json } = await shipmentCall(`/api/v1/shipments/${encodeURIComponent(ref)}`);
    if (!ok) return report("unknown", `${data}: ${json && json.error ? json.error.message : "no network"} — scan the bill first`);
    state.shipment = json.number;
    renderMode();
    return report("ok", `Bill ${json.number} (${json.status}): now scan the containers`);
  }
  const { ok, json } = await shipmentCall(`/api/v1/shipments/${encodeURIComponent(state.shipment)}/scan`, undoLast ? { undo: true } : { data });
  if (!ok || !json) return report("refused", `${data}: ${json && json.error ? json.error.message : "needs the network"}`);
  const totals = json.shipment.totals;
  const tally = ` · ${totals.containers} containers, ${totals.items} items`;
  report(json.outcome === "refused" ? "refused" : "ok", json.message + tally);
}

async function undo() {
  const taking = lastUndo;
  if (!taking) return;
  lastUndo = null;
  renderHistory();
  if (taking.transitionBack) {
    // Only the workflow knows whether there is a way back: ask for the item's actions now.
    const { code, to } = taking.transitionBack;
    let detail = null;
    try {
      const response = await fetch(`/api/v1/items/${encodeURIComponent(code)}`, { headers: { Accept: "application/json" } });
      if (response.ok) detail = await response.json();
    } catch (err) {
      detail = null;
    }
    const back = detail && detail.actions.find((a) => a.to === to && !a.signature_required);
    if (!back) {
      report("refused", `Cannot undo: the workflow has no way back to ${to.replaceAll("_", " ")}${detail ? "" : " (or no network)"}`);
      return;
    }
    const action = { kind: "transition", transition: back.name };
    if (back.reason_required) action.reason = "Undo";
    await act(action, code, `Undo: ${code} back to ${to.replaceAll("_", " ")}`);
    lastUndo = null;
    renderHistory();
    return;
  }
  const record = outbox.makeRecord(taking.url, taking.body, `Undo: ${taking.label}`);
  settled(record, await outbox.submit(record), { live: false });
  lastUndo = null;
  renderHistory();
}

// Act mode: what may be done to the item scanned, from the scan's answer (scan-act.js).
const actMode = createActMode({
  state,
  changed: () => renderMode(),
  // Act mode is where lots are dispensed and picked: first expired, first out.
  lookup: (data) => lookup(data, { fefo: true }),
  warningsOf,
  act,
  report,
  showItem,
  stateName,
  focusScan: () => input.focus(),
});

// --- wiring -------------------------------------------------------------------------------

// The input keeps focus so a wedge scanner's keystrokes always land in it, except while the
// operator is using another control (the mode panel's fields, a button, a link).
function refocus() {
  const active = document.activeElement;
  if (active && active !== document.body && active !== input && active.closest("input, select, textarea, button, a, summary, video")) return;
  if (document.hidden) return;
  input.focus({ preventScroll: true });
}

let busy = Promise.resolve();
function enqueue(data, options) {
  // Scans are handled one at a time, in the order they came, however fast they arrive.
  busy = busy.then(() => handleScan(data, options)).catch(() => report("refused", `${data}: something went wrong; try again`));
  return busy;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const data = input.value;
  input.value = "";
  enqueue(data);
  input.focus();
});
document.addEventListener("qtrack:scan", (event) => enqueue(event.detail));
document.addEventListener("click", (event) => {
  // A tap on a button or on the page gives the input its focus back; a tap on a field keeps it.
  if (event.target.closest && event.target.closest("input, select, textarea, summary, label, video")) return;
  setTimeout(() => { if (!document.hidden) input.focus({ preventScroll: true }); }, 0);
});
input.addEventListener("blur", () => setTimeout(refocus, 150));
window.addEventListener("focus", refocus);

// A tap on a mode sends focus back to the scan input; arrow keys move between the modes, so
// keyboard users keep the focus there until they press Enter (or Tab away).
let pointerAt = 0;
document.addEventListener("pointerdown", () => { pointerAt = Date.now(); }, true);
for (const radio of document.querySelectorAll('input[name="mode"]')) {
  radio.addEventListener("change", () => {
    state.mode = radio.value;
    lastUndo = null;
    renderMode();
    renderHistory();
    if (Date.now() - pointerAt < 1000) input.focus();
  });
  radio.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    event.preventDefault();
    input.focus();
  });
}
if ($("shipment-undo")) $("shipment-undo").addEventListener("click", () => { busy = busy.then(() => shipmentScan("", true)); });

for (const button of document.querySelectorAll("[data-reset]")) {
  button.addEventListener("click", () => {
    state[button.dataset.reset] = null;
    if (button.dataset.reset === "act") actMode.reset();
    renderMode();
    input.focus();
  });
}
undoButton.addEventListener("click", () => { undo().finally(() => input.focus()); });
$("refused-clear").addEventListener("click", () => outbox.clearRefused());

outbox.subscribe((change) => {
  renderOutbox();
  if (change.fromQueue && change.type === "sent") remember("ok", `${change.record.label}: sent`);
  if (change.fromQueue && change.type === "refused") {
    remember("refused", `${change.record.label}: refused — ${change.message}`);
    signal("refused");
  }
});

createCamera({
  video: $("camera-video"),
  note: $("camera-note"),
  startButton: $("camera-start"),
  stopButton: $("camera-stop"),
  csrf: () => document.body.dataset.csrf || "",
  onCode: (text, symbologyId) => enqueue(text, { symbologyId }),
});

renderMode();
renderHistory();
renderOutbox();
input.focus();

// A scan caught on another page arrives here as ?data=...: look it up, then tidy the URL.
const fromElsewhere = new URLSearchParams(location.search).get("data");
if (fromElsewhere) {
  window.history.replaceState(null, "", "/scan");
  enqueue(fromElsewhere, { forceLookup: true });
}
document.body.dataset.scanReady = "yes";
