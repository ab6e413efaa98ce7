// Copy buttons: <button class="copy-button" data-target="input-id" aria-describedby="note-id">.
for (const button of document.querySelectorAll(".copy-button")) {
  button.addEventListener("click", async () => {
    const input = document.getElementById(button.dataset.target);
    const note = document.getElementById(button.getAttribute("aria-describedby"));
    try {
      await navigator.clipboard.writeText(input.value);
      note.textContent = "Copied.";
    } catch {
      input.select();
      note.textContent = "Selected: copy it with your device's Copy command.";
    }
  });
}
