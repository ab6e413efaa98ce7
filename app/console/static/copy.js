// Copy buttons, on console pages and the subscriber's pages alike:
// <button class="copy-button" data-target="input-id" aria-describedby="note-id">.
// The page may say more after copying: <script src=".../copy.js" data-copied="…">.
{  // a block: its names stay out of the page's globals
  const copied = document.currentScript?.dataset.copied || "Copied.";
  for (const button of document.querySelectorAll(".copy-button")) {
    button.addEventListener("click", async () => {
      const input = document.getElementById(button.dataset.target);
      const note = document.getElementById(button.getAttribute("aria-describedby"));
      try {
        await navigator.clipboard.writeText(input.value);
        note.textContent = copied;
      } catch {
        input.select();
        note.textContent = "Selected: copy it with your device's Copy command.";
      }
    });
  }
}
