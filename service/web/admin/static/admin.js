// The dashboard's only script: the Copy button next to a new token.
// Without JavaScript the button stays hidden and the token can be selected by hand.
document.querySelectorAll("button[data-copy]").forEach((button) => {
  const field = document.getElementById(button.dataset.copy);
  const status = document.getElementById(button.dataset.status);
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      status.textContent = "Copied to the clipboard.";
    } catch {
      field.select();
      status.textContent = "Selected: press Ctrl+C (or ⌘C) to copy.";
    }
  });
});
