// The receive screen: a supplier's barcode, from a keyboard-wedge scanner (Enter) or the
// camera, is read by the server's resolver (/api/v1/scan, a lookup that changes nothing) and
// its GS1 data fills the form: GTIN, batch, expiry, count. The raw scan stays in the form, so
// the receipt itself is parsed again on the server (the form works without this script too).
// Another order's QR opens that order's receive screen.

import { createCamera } from "./camera.js";

const $ = (id) => document.getElementById(id);
const form = $("receive-form");
const dataInput = $("f-data");
const symbologyInput = $("f-symbology");
const readOut = $("scan-read");
const csrf = () => document.body.dataset.csrf || "";
const ORDER_URL = /\/orders\/(ORD-\d+)\/?$/i;

function show(text, kind) {
  readOut.textContent = text;
  readOut.dataset.outcome = kind;
  readOut.hidden = false;
}

function setIfEmpty(id, value) {
  const input = $(id);
  if (input && value != null && value !== "" && !input.value) input.value = value;
}

/** The line whose supplier reference is this GTIN, if exactly one is. */
function lineOfGtin(gtin) {
  const matches = [...$("f-line").options].filter((o) => /^(\d{8}|\d{12,14})$/.test(o.dataset.ref || "") && o.dataset.ref.padStart(14, "0") === gtin);
  return matches.length === 1 ? matches[0].value : null;
}

async function read(text, symbology) {
  const order = ORDER_URL.exec(text.trim());
  if (order) {
    window.location.assign(`/orders/${order[1].toUpperCase()}/receive`);
    return;
  }
  dataInput.value = text;
  symbologyInput.value = symbology || "";
  let answer;
  try {
    const response = await fetch("/api/v1/scan", {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(symbology ? { data: text, symbology } : { data: text }),
    });
    answer = await response.json();
    if (!response.ok) {
      show((answer.error && answer.error.message) || "The scan could not be read", "refused");
      return;
    }
  } catch (err) {
    show("No network: the barcode is kept and read when you press Receive.", "unknown");
    return;
  }
  const gs1 = answer.gs1;
  if (!gs1) {
    show("This barcode holds no GS1 data (GTIN, batch, expiry): type what arrived.", "refused");
    return;
  }
  setIfEmpty("f-batch", gs1.batch);
  setIfEmpty("f-expiry_on", gs1.expiry_on);
  setIfEmpty("f-quantity", gs1.quantity);
  const line = gs1.gtin && lineOfGtin(gs1.gtin);
  if (line && !$("f-line").value) $("f-line").value = line;
  const parts = [
    gs1.gtin && `GTIN ${gs1.gtin}`,
    gs1.batch && `batch ${gs1.batch}`,
    gs1.expiry_on && `expires ${gs1.expiry_on}`,
    gs1.quantity && `count ${gs1.quantity}`,
  ].filter(Boolean);
  show(`Read: ${parts.join(", ") || "a GS1 code"}. Check the fields, then Receive.`, "ok");
  ($("f-quantity").value ? $("receive-submit") : $("f-quantity")).focus();
}

if (form) {
  // A wedge scanner ends with Enter: read the code first instead of sending the form at once.
  dataInput.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" || !dataInput.value.trim()) return;
    event.preventDefault();
    read(dataInput.value, symbologyInput.value || null);
  });
  createCamera({
    video: $("camera-video"),
    note: $("camera-note"),
    startButton: $("camera-start"),
    stopButton: $("camera-stop"),
    csrf,
    onCode: (text, symbology) => read(text, symbology),
  });
  document.body.dataset.receiveReady = "yes";
}
