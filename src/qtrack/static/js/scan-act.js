// Act mode of the scan screen: a scan shows what this person may do to that item now (the
// transitions and actions the scan's answer lists for it); the action picked is done to it,
// after its reason, amount or password, and then to each item scanned after it, until another
// is chosen. An item it does not apply to is refused by the server, in red.

const $ = (id) => document.getElementById(id);

function button(text, attrs) {
  const node = document.createElement("button");
  node.type = "button";
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  node.textContent = text;
  return node;
}

/**
 * `state.act` (kept across reloads by the screen) is the action done to every scan; the
 * screen calls `render()` when it redraws, `scan(data)` for a scan in act mode, and `reset()`
 * when "Choose another action" is pressed.
 */
export function createActMode({ state, changed, lookup, warningsOf, act, report, showItem, stateName, focusScan }) {
  // The item scanned last with what may be done to it, and the action picked for it while
  // its reason, amount or password is being typed.
  let pending = null; // {item, choices}
  let picked = null;

  function needsInput(choice) {
    return choice.kind === "dispense" || choice.reason || choice.signature;
  }

  function choicesFor(result) {
    const item = result.item;
    const choices = (result.actions || []).map((a) => ({
      kind: "transition",
      transition: a.name,
      label: a.label,
      to: a.to,
      reason: a.reason_required,
      signature: a.signature_required,
      text: `${a.label} → ${stateName(item.type, a.to)}${a.signature_required ? " (e-signature)" : ""}`,
    }));
    if ((result.can || []).includes("dispense")) {
      choices.push({ kind: "dispense", label: "Dispense", reason: false, signature: false, text: "Dispense an amount" });
    }
    return choices;
  }

  function renderAct() {
    if (!$("act-target")) return;
    const active = state.act;
    $("act-target").textContent = active ? active.label : pending ? "choose below what to do" : "scan an item to see what you may do with it";
    $("act-choices").hidden = !pending || Boolean(active);
    if (pending) {
      $("act-for").textContent = `${pending.item.code} (${stateName(pending.item.type, pending.item.status)}): you may`;
      $("act-buttons").replaceChildren(
        ...pending.choices.map((choice, index) => {
          const node = button(choice.text, { class: "act-choice", "data-choice": String(index), "aria-pressed": String(picked === choice) });
          node.addEventListener("click", (event) => choose(choice, event));
          return node;
        }),
      );
    }
    // A reason can be typed as soon as there is something to do: before a choice that needs
    // nothing else, and it is kept for the scans after.
    const shown = picked || active;
    $("act-fields").hidden = !(shown || pending);
    $("act-amount-row").hidden = !shown || shown.kind !== "dispense";
    $("act-password-row").hidden = !shown || !shown.signature;
    $("act-reason-hint").textContent = shown && shown.reason ? "(required)" : "(optional)";
    const apply = $("act-apply");
    apply.hidden = !(picked && pending);
    if (picked && pending) apply.textContent = `${picked.label}: ${pending.item.code}`;
    $("act-reset").hidden = !(active || picked);
  }

  /** The action a choice and the act fields describe, or what is missing. */
  function actionOf(choice) {
    const reason = $("act-reason").value.trim();
    if (choice.reason && !reason) return { problem: "Enter the reason first", focus: "act-reason" };
    const action = { kind: choice.kind };
    if (choice.kind === "dispense") {
      const amount = $("act-amount").value.trim();
      if (!amount || !(Number(amount) > 0)) return { problem: "Enter the amount to dispense first", focus: "act-amount" };
      action.amount = amount;
    } else {
      action.transition = choice.transition;
    }
    if (reason) action.reason = reason;
    if (choice.signature) {
      const password = $("act-password").value;
      if (!password) return { problem: "Enter your password to sign first", focus: "act-password" };
      action.password = password;
    }
    return { action };
  }

  async function doChoice(choice, code) {
    const made = actionOf(choice);
    if (made.problem) {
      report("refused", `${code}: not done. ${made.problem}.`);
      if (made.focus) $(made.focus).focus();
      return null;
    }
    return act(made.action, code, `${code}: ${choice.label}`);
  }

  /** Do the picked action to the item scanned; once done, it is done to each next scan. */
  async function applyPicked() {
    if (!picked || !pending) return;
    const choice = picked;
    const answer = await doChoice(choice, pending.item.code);
    if (answer && answer.outcome !== "refused") {
      const { text, ...kept } = choice;
      state.act = kept;
      pending = null;
      picked = null;
      changed();
      focusScan();
    }
  }

  function choose(choice, event) {
    picked = choice;
    renderAct();
    if (!needsInput(choice)) {
      applyPicked();
      return;
    }
    // Its reason, amount or password first: the focus goes there, not back to the scan input.
    event.stopPropagation();
    const first = choice.kind === "dispense" ? "act-amount" : choice.reason ? "act-reason" : "act-password";
    $(first).focus();
  }

  async function offerActions(data) {
    const answer = await lookup(data);
    if (answer.outcome !== "sent") {
      report(answer.outcome === "refused" ? "refused" : "unknown", answer.outcome === "refused" ? `${data}: ${answer.message}` : `${data}: choosing what to do needs the network`);
      return;
    }
    const result = answer.data;
    if (result.matched !== "item") {
      report("unknown", `${data}: not an item — scan an item to act on`);
      return;
    }
    showItem(result.item);
    picked = null;
    const choices = choicesFor(result);
    const status = stateName(result.item.type, result.item.status);
    const warned = warningsOf(result);
    const note = warned ? ` — ${warned}` : "";
    if (!choices.length) {
      pending = null;
      report("unknown", `${result.item.code}: ${status}${note} — nothing you may do to it now`, { code: result.item.code });
    } else {
      pending = { item: result.item, choices };
      report(warned ? "unknown" : "ok", `${result.item.code}: ${status}${note} — choose what to do`, { code: result.item.code });
    }
    renderAct();
  }

  // Enter in a field of the panel: do the picked action to the item scanned, or, when the
  // action is already chosen for every scan, "done, now scan" (back to the scan input).
  for (const field of document.querySelectorAll("#panel-act input")) {
    field.addEventListener("keydown", (event) => {
      if (event.key !== "Enter") return;
      event.preventDefault();
      if (picked && pending) applyPicked();
      else focusScan();
    });
  }
  if ($("act-apply")) $("act-apply").addEventListener("click", () => { applyPicked(); });

  return {
    render: renderAct,
    scan: (data) => (state.act ? doChoice(state.act, data) : offerActions(data)),
    reset: () => { picked = null; },
  };
}
