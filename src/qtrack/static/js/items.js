// Items list: pick rows, then print their labels in one PDF.
const form = document.getElementById("bulk-form");
const hidden = document.getElementById("bulk-items");
const button = document.getElementById("bulk-print");

function picked() {
  return [...form.querySelectorAll("input.pick:checked")].map((box) => box.value);
}

if (form && hidden && button) {
  form.addEventListener("change", () => {
    const codes = picked();
    button.disabled = codes.length === 0;
    button.textContent = codes.length ? `Print labels for ${codes.length} selected` : "Print labels for the selected";
  });
  form.addEventListener("submit", () => {
    hidden.value = picked().join(",");
  });
}
