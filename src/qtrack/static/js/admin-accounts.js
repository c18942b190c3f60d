// A secret shown once (an API token, a generated password): a button that copies it.
// Without JavaScript the field is still there to select and copy by hand.
const status = document.getElementById("copy-status");

for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  if (!field) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    field.focus();
    field.select();
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch {
      // No clipboard API (an insecure origin): the old way, on the selected text.
      copied = document.execCommand("copy");
    }
    if (status) status.textContent = copied ? "Copied." : "Select the text and copy it.";
    button.textContent = copied ? "Copied" : "Copy";
  });
}
