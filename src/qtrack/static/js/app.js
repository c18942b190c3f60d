// Every signed-in page: the service worker, the "N waiting" badge, sending what waits when
// the network is back, and catching a prefixed scan typed anywhere on the page.
import * as outbox from "./outbox.js";

const RETRY_MS = 15000;

if ("serviceWorker" in navigator && window.isSecureContext) {
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch(() => {
    /* no offline shell here; everything else still works */
  });
}

const badge = document.getElementById("outbox-badge");
const netStatus = document.getElementById("net-status");

async function showWaiting() {
  if (!badge) return;
  let count = 0;
  try { count = await outbox.waitingCount(); } catch (err) { count = 0; }
  badge.textContent = `${count} waiting`;
  badge.hidden = count === 0;
}

function showNetwork() {
  if (netStatus) netStatus.hidden = navigator.onLine;
}

async function sendWaiting() {
  if (!navigator.onLine) return;
  try {
    if ((await outbox.waitingCount()) > 0) await outbox.flush();
  } catch (err) {
    /* IndexedDB unavailable (private mode on some browsers): nothing was queued */
  }
}

outbox.subscribe(() => showWaiting());
window.addEventListener("online", () => { showNetwork(); sendWaiting(); });
window.addEventListener("offline", showNetwork);
showNetwork();
showWaiting();
sendWaiting();
setInterval(sendWaiting, RETRY_MS);

// A new login must not find the last one's pages in the offline cache.
const logout = document.getElementById("logout-form");
if (logout && "caches" in window) {
  logout.addEventListener("submit", () => {
    caches.keys().then((keys) => keys.filter((k) => k.startsWith("qtrack-")).forEach((k) => caches.delete(k)));
  });
}

// Keyboard-wedge scanners type fast and can send a prefix before each code. Once the prefix
// arrives, every key up to Enter belongs to the scan, whatever has focus.
const prefix = document.body.dataset.scanPrefix || "";
if (prefix) {
  let recent = "";
  let capturing = false;
  let captured = "";
  let timer = null;

  const finish = () => {
    clearTimeout(timer);
    capturing = false;
    const data = captured;
    captured = "";
    if (!data) return;
    if (location.pathname === "/scan") {
      document.dispatchEvent(new CustomEvent("qtrack:scan", { detail: data }));
    } else {
      location.assign(`/scan?data=${encodeURIComponent(data)}`);
    }
  };

  document.addEventListener(
    "keydown",
    (event) => {
      if (event.ctrlKey || event.altKey || event.metaKey) return;
      if (capturing) {
        event.preventDefault();
        event.stopPropagation();
        if (event.key === "Enter" || event.key === "Tab") {
          finish();
          return;
        }
        if (event.key.length === 1) captured += event.key;
        clearTimeout(timer);
        timer = setTimeout(finish, 400); // scanners that send no Enter
        return;
      }
      if (event.key.length !== 1) {
        recent = "";
        return;
      }
      recent = (recent + event.key).slice(-prefix.length);
      if (recent !== prefix) return;
      event.preventDefault();
      event.stopPropagation();
      recent = "";
      capturing = true;
      // The first characters of the prefix went into the focused field: take them back out.
      const field = document.activeElement;
      const typed = prefix.slice(0, -1);
      if (typed && field && "value" in field && typeof field.value === "string" && field.value.endsWith(typed)) {
        field.value = field.value.slice(0, -typed.length);
      }
    },
    true,
  );
}
