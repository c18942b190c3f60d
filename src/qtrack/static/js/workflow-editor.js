// The workflow editor, enhanced: "Add state", "Add transition" and "Remove" buttons, and
// "from" checkboxes and "to" selects whose choices follow the state keys as they are typed.
//
// Without this script the form still works: it carries blank rows to fill, "Remove"
// checkboxes, and checkboxes and selects that point at state rows ("@2": the state in row 3).

const form = document.getElementById("workflow-editor");
if (form) enhance(form);

function enhance(form) {
  const stateRows = form.querySelector("#state-rows");
  const transitionRows = form.querySelector("#transition-rows");
  let made = 0;

  const states = () =>
    [...stateRows.rows].map((row, index) => ({
      uid: row.dataset.uid,
      key: row.querySelector("[data-state-key]").value.trim(),
      index,
    }));

  // Rebuild each from/to select's options from the state rows, keeping what was chosen:
  // an option belongs to a row (data-uid), so a renamed or renumbered state stays chosen.
  function refreshSelects() {
    const rows = states();
    for (const select of transitionRows.querySelectorAll("select[data-state-select]")) {
      const chosen = new Set([...select.selectedOptions].map((o) => o.dataset.uid));
      // Keys the server did not know (shown with their error) stay until changed.
      const unknown = [...select.options].filter((o) => !o.dataset.uid && o.value);
      const options = [];
      if (select.dataset.blank !== undefined) options.push(new Option(select.dataset.blank, ""));
      options.push(...unknown);
      for (const row of rows) {
        const text = row.key || `(row ${row.index + 1}, no key yet)`;
        const option = new Option(text, `@${row.index}`);
        option.dataset.uid = row.uid;
        option.selected = chosen.has(row.uid);
        options.push(option);
      }
      select.replaceChildren(...options);
      if (!select.multiple && !select.selectedOptions.length) select.value = "";
    }
    // The "from" checkboxes: one per state row, ticked as before.
    [...transitionRows.rows].forEach((row, j) => {
      const group = row.querySelector("[data-state-checks]");
      if (!group) return;
      const boxes = [...group.querySelectorAll("input[type=checkbox]")];
      const ticked = new Set(boxes.filter((box) => box.checked).map((box) => box.dataset.uid));
      const unknown = boxes.filter((box) => !box.dataset.uid).map((box) => box.closest("label"));
      const problem = boxes.find((box) => box.hasAttribute("aria-invalid"));
      const labels = rows.map((state, i) => {
        const box = document.createElement("input");
        box.type = "checkbox";
        box.name = `transitions.${j}.from`;
        box.id = i === 0 ? `f-transitions-${j}-from` : `f-transitions-${j}-from-${i}`;
        box.value = `@${state.index}`;
        box.dataset.uid = state.uid;
        box.checked = ticked.has(state.uid);
        if (problem) {
          box.setAttribute("aria-invalid", "true");
          box.setAttribute("aria-describedby", problem.getAttribute("aria-describedby"));
        }
        const text = document.createElement("span");
        text.textContent = state.key || `(row ${state.index + 1}, no key yet)`;
        const label = document.createElement("label");
        label.className = "cfg-check";
        label.append(box, " ", text);
        return label;
      });
      group.replaceChildren(group.querySelector("legend"), ...unknown, ...labels);
    });
  }

  // Names, ids and references carry the row's number: keep them in step with the order.
  function renumber(body, prefix) {
    [...body.rows].forEach((row, i) => {
      for (const el of row.querySelectorAll("[name], [id], [for], [aria-describedby]")) {
        if (el.name) el.name = el.name.replace(/^(states|transitions)\.\d+\./, `${prefix}.${i}.`);
        for (const attr of ["id", "for", "aria-describedby"]) {
          const value = el.getAttribute(attr);
          if (!value) continue;
          el.setAttribute(
            attr,
            value
              .replace(/\b([fe])-(states|transitions)-\d+-/g, `$1-${prefix}-${i}-`)
              .replace(/\bf-initial-\d+\b/, `f-initial-${i}`),
          );
        }
        if (el.type === "radio" && el.name === "initial") el.value = `@${i}`;
      }
      for (const hidden of row.querySelectorAll(".visually-hidden")) {
        hidden.textContent = hidden.textContent.replace(/\d+$/, String(i + 1));
      }
    });
  }

  function renumberAll() {
    renumber(stateRows, "states");
    renumber(transitionRows, "transitions");
    refreshSelects();
  }

  // The "Remove" checkbox becomes a button that takes the row away at once.
  function addRemoveButton(row, noun, addButton) {
    const box = row.querySelector("[data-remove]");
    if (!box) return;
    const label = box.closest("label");
    label.hidden = true;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "quiet cfg-remove-button";
    button.textContent = "Remove";
    button.setAttribute("aria-label", `Remove this ${noun}`);
    button.addEventListener("click", () => {
      row.remove();
      renumberAll();
      addButton.focus();
    });
    label.after(button);
  }

  function addRow(body, templateId, noun, addButton) {
    const template = document.getElementById(templateId);
    const i = body.rows.length;
    const holder = document.createElement("tbody");
    holder.innerHTML = template.innerHTML
      .replaceAll("__i__", String(i))
      .replaceAll("__n__", String(i + 1));
    const row = holder.rows[0];
    if (row.dataset.uid !== undefined) row.dataset.uid = `new${made++}`;
    body.append(row);
    addRemoveButton(row, noun, addButton);
    refreshSelects();
    row.querySelector("input").focus();
    return row;
  }

  const addState = form.querySelector("#add-state");
  const addTransition = form.querySelector("#add-transition");
  for (const row of stateRows.rows) addRemoveButton(row, "state", addState);
  for (const row of transitionRows.rows) addRemoveButton(row, "transition", addTransition);
  addState.hidden = false;
  addTransition.hidden = false;
  addState.addEventListener("click", () => addRow(stateRows, "state-row-template", "state", addState));
  addTransition.addEventListener("click", () =>
    addRow(transitionRows, "transition-row-template", "transition", addTransition),
  );
  stateRows.addEventListener("input", (event) => {
    if (event.target.matches("[data-state-key]")) refreshSelects();
  });
}
