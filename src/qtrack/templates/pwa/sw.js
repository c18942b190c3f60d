/* qtrack service worker: keeps the app shell so the scan screen opens with no network.
 *
 * Pages are fetched from the network first (they show live data and carry the session's
 * CSRF token); only the scan screen is kept, as the fallback when the network is gone.
 * Static files are served from the cache and refreshed behind it. API calls are never
 * touched here: the page queues offline actions itself (outbox.js), so that it can show
 * them and their outcome.
 */
"use strict";

const CACHE = "qtrack-__QTRACK_CACHE_VERSION__";
const SHELL = [/*__SHELL__*/];
const OFFLINE_PAGES = ["/scan"];
const NETWORK_TIMEOUT_MS = 4000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(CACHE);
      await cache.addAll(SHELL);
      // The scan screen needs the session: keep it only if this browser is signed in.
      for (const path of OFFLINE_PAGES) {
        try {
          const response = await fetch(path, { credentials: "same-origin" });
          if (response.ok && !response.redirected) await cache.put(path, response);
        } catch (err) {
          /* offline while installing: the page is cached on its next visit */
        }
      }
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) {
        if (key.startsWith("qtrack-") && key !== CACHE) await caches.delete(key);
      }
      await self.clients.claim();
    })(),
  );
});

function offlinePage() {
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    '<title>Offline · qtrack</title><link rel="stylesheet" href="/static/css/app.css"></head>' +
    '<body><main id="main"><section class="card narrow"><h1>You are offline</h1>' +
    "<p>This page needs the network. The scan screen works offline: scans are kept and " +
    'sent when the network is back.</p><p><a class="button primary" href="/scan">Open the scan screen</a></p>' +
    "</section></main></body></html>";
  return new Response(html, { status: 503, headers: { "Content-Type": "text/html; charset=utf-8" } });
}

function withTimeout(promise, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("timeout")), ms);
    promise.then(
      (value) => { clearTimeout(timer); resolve(value); },
      (err) => { clearTimeout(timer); reject(err); },
    );
  });
}

async function navigate(request) {
  const url = new URL(request.url);
  const keep = OFFLINE_PAGES.includes(url.pathname);
  try {
    const response = await withTimeout(fetch(request), keep ? NETWORK_TIMEOUT_MS : 30000);
    if (keep && response.ok && response.type === "basic" && !response.redirected) {
      const cache = await caches.open(CACHE);
      await cache.put(url.pathname, response.clone());
    }
    return response;
  } catch (err) {
    const cache = await caches.open(CACHE);
    const cached = keep ? await cache.match(url.pathname) : undefined;
    return cached || offlinePage();
  }
}

async function staleWhileRevalidate(event) {
  const cache = await caches.open(CACHE);
  const cached = await cache.match(event.request, { ignoreSearch: true });
  const refresh = fetch(event.request)
    .then((response) => {
      if (response.ok && response.type === "basic") cache.put(event.request, response.clone());
      return response;
    })
    .catch(() => undefined);
  if (cached) {
    event.waitUntil(refresh);
    return cached;
  }
  return (await refresh) || new Response("", { status: 504 });
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(navigate(request));
  } else if (url.pathname.startsWith("/static/") || url.pathname === "/manifest.webmanifest") {
    event.respondWith(staleWhileRevalidate(event));
  }
});
