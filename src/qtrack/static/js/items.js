// Items list bulk actions: the form posts the ticked codes without any script; this only
// counts them, enables the buttons when there is something to act on, offers "select all",
// and shows the fields of the chosen action.
const form = document.getElementById("bulk-form");
const count = document.getElementById("bulk-count");
const pickAll = document.getElementById("pick-all");
const action = document.getElementById("b-action");
const reasonInput = document.getElementById("b-reason");
const buttons = ["bulk-apply", "bulk-print"].map((id) => document.getElementById(id)).filter(Boolean);
const MAX = 200;

function boxes() {
  return [...form.querySelectorAll("input.pick")];
}

function update() {
  const all = boxes();
  const n = all.filter((box) => box.checked).length;
  for (const button of buttons) button.disabled = n === 0 || n > MAX;
  const apply = document.getElementById("bulk-apply");
  if (apply) apply.textContent = n ? `Apply to ${n} selected` : "Apply to the selected";
  const print = document.getElementById("bulk-print");
  if (print) print.textContent = n ? `Print labels for ${n} selected` : "Print labels for the selected";
  if (count) {
    count.textContent = n === 0 ? "Tick the items, then choose what to do." : n > MAX ? `${n} selected: at most ${MAX} at a time.` : `${n} selected.`;
  }
  if (pickAll) {
    pickAll.checked = n > 0 && n === all.length;
    pickAll.indeterminate = n > 0 && n < all.length;
  }
}

function showFields() {
  if (!action) return;
  for (const field of form.querySelectorAll("[data-bulk-for]")) field.hidden = field.dataset.bulkFor !== action.value;
  const transition = document.getElementById("b-transition");
  const location = document.getElementById("b-location");
  // The chosen action's fields are asked for before the form is sent (the server checks too).
  if (transition) transition.required = action.value === "transition";
  if (location) location.required = action.value === "move";
  if (reasonInput && transition && transition.selectedOptions.length) {
    reasonInput.required = action.value === "transition" && transition.selectedOptions[0].dataset.reason === "yes";
  }
}

if (form) {
  form.addEventListener("change", (event) => {
    if (event.target === pickAll) {
      for (const box of boxes()) box.checked = pickAll.checked;
    }
    update();
    showFields();
  });
  if (pickAll) pickAll.hidden = false;
  update();
  showFields();
}
