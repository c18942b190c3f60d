// An import running in the background: ask the API how far it is every second, show it, and
// reload the page when it has finished (the page then says what it made or what is wrong).

const section = document.getElementById("import");
const FINISHED = new Set(["checked", "refused", "done", "failed", "uploaded"]);
const number = (n) => n.toLocaleString("en");

async function poll() {
  const response = await fetch(`/api/v1/imports/${section.dataset.import}`, {
    headers: { Accept: "application/json" },
    credentials: "same-origin",
  });
  if (!response.ok) return;
  const imp = await response.json();
  if (FINISHED.has(imp.status)) {
    window.location.reload();
    return;
  }
  const bar = document.getElementById("progress-bar");
  bar.max = Math.max(1, imp.rows_total * (imp.dry_run ? 1 : 2));
  bar.value = imp.rows_checked + imp.rows_written;
  document.getElementById("rows-checked").textContent = number(imp.rows_checked);
  document.getElementById("rows-written").textContent = number(imp.rows_written);
  document.getElementById("rows-total").textContent = number(imp.rows_total);
  document.getElementById("time-left").textContent =
    imp.time_left_s === null ? "working out the time left" : `about ${Math.round(imp.time_left_s)} s left`;
  document.getElementById("import-status").textContent =
    imp.status === "queued" ? "Waiting for a background worker…" :
    imp.status === "checking" ? "Checking every row…" : "Writing…";
}

if (section && section.hasAttribute("data-follow")) {
  setInterval(() => poll().catch(() => {}), 1000);
}
