// The publishing pages' files go to the admin API (the endpoints curl uses) with the session
// cookie and the CSRF header: its middleware authenticates them before reading the body.
"use strict";

const csrf = document.querySelector('meta[name="csrf-token"]').content;

// The admin API's error answer, {"error", "detail"}, as a sentence.
function problemIn(status, body) {
  try {
    const detail = JSON.parse(body).detail;
    return Array.isArray(detail)
      ? detail.map((p) => `${p.field}: ${p.message}`).join("; ")
      : detail;
  } catch {
    return `The server answered ${status}.`;
  }
}

function sayIn(element, text, problem) {
  element.textContent = text;
  element.classList.toggle("error", Boolean(problem));
}

// A 401: the console session ended (or the account was disabled) while the page was open.
// Nothing was saved; logging in again comes back to this page.
function sayLogIn(element) {
  sayIn(element, "Your console session has ended, so nothing was saved. ", true);
  const link = document.createElement("a");
  link.href = `/console/login?${new URLSearchParams({ next: location.pathname + location.search })}`;
  link.textContent = "Log in again";
  element.append(link, " and this page opens again, to send it once more.");
}

// An episode's audio. XMLHttpRequest, not fetch: only it reports upload progress. The File
// goes to FormData as it is, so the browser streams it from disk: a 600 MB episode is never
// read into memory.
function uploadEpisode(form) {
  const input = form.querySelector("input[type=file]");
  const zone = form.querySelector(".dropzone");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const button = form.querySelector("button[type=submit]");
  const say = (text, problem) => sayIn(status, text, problem);
  const busy = (yes) => {
    form.classList.toggle("busy", yes);
    input.disabled = button.disabled = yes; // one upload at a time
  };

  function send(file) {
    const data = new FormData(form);
    for (const [name, value] of [...data]) {
      if (value === "") data.delete(name); // a field left empty: the file's own tags apply
    }
    data.set("audio", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", form.action);
    xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.addEventListener("progress", (event) => {
      if (!event.lengthComputable) return;
      const percent = Math.floor((event.loaded / event.total) * 100);
      bar.value = percent;
      say(`Uploading ${file.name}: ${percent}%`);
    });
    xhr.upload.addEventListener("load", () => {
      bar.value = 100;
      say(`Uploaded ${file.name}; reading its metadata…`);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status === 201) {
        const episode = JSON.parse(xhr.responseText);
        say(`${file.name} is uploaded as a draft. Opening it to confirm…`);
        window.location.assign(form.dataset.episodeUrl.replace("{id}", episode.id));
      } else {
        busy(false);
        bar.value = 0; // nothing was kept: the bar does not stay full
        if (xhr.status === 401) sayLogIn(status);
        else say(`Not uploaded: ${problemIn(xhr.status, xhr.responseText)}`, true);
      }
    });
    xhr.addEventListener("error", () => {
      busy(false);
      bar.value = 0;
      say("The upload was cut off (network error). Try again.", true);
    });
    busy(true);
    bar.value = 0;
    say(`Uploading ${file.name}…`);
    xhr.send(data);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (input.files.length) send(input.files[0]);
    else say("Choose an MP3 or M4A file first.", true);
  });
  input.addEventListener("change", () => {
    if (input.files.length) send(input.files[0]);
  });
  for (const name of ["dragenter", "dragover"]) {
    zone.addEventListener(name, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) send(event.dataTransfer.files[0]);
  });
}

function isJson(text) {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

// Artwork, chapters and transcripts: PUT to the admin API, then reload the page to show them
// (the form's data-done). Chapters are JSON, sent as the request's body.
function putFile(form) {
  const input = form.querySelector("input[type=file]");
  const status = form.querySelector(".api-status");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const file = input.files[0];
    const json = "json" in form.dataset;
    const body = json ? await file.text() : new FormData(form);
    if (json && !isJson(body)) {
      // The API would say "0: JSON decode error".
      const words = `${file.name} is not a JSON file; chapters are Podcasting 2.0 JSON.`;
      sayIn(status, `Not saved: ${words}`, true);
      return;
    }
    const headers = { "X-CSRF-Token": csrf };
    if (json) headers["Content-Type"] = "application/json";
    sayIn(status, `Sending ${file.name}…`);
    try {
      const response = await fetch(form.action, { method: "PUT", headers, body });
      if (response.ok) window.location.assign(form.dataset.done);
      else if (response.status === 401) sayLogIn(status);
      else sayIn(status, `Not saved: ${problemIn(response.status, await response.text())}`, true);
    } catch {
      sayIn(status, "The server could not be reached. Try again.", true);
    }
  });
}

// Artwork: show the chosen image and its size before it is sent; the server's check
// (square, 1400 to 3000 px) has the last word.
function previewImage(input) {
  const preview = document.getElementById(input.dataset.preview);
  const note = document.getElementById(input.dataset.previewNote);
  input.addEventListener("change", () => {
    if (!input.files.length) return;
    const image = new Image();
    image.addEventListener("load", () => {
      const { naturalWidth: w, naturalHeight: h } = image;
      const fits = w === h && w >= 1400 && w <= 3000;
      note.textContent = `${w} × ${h} px: ${fits ? "fits" : "does not fit"} Apple's rule (square, 1400 to 3000 px).`;
    });
    image.src = URL.createObjectURL(input.files[0]);
    preview.src = image.src;
    preview.hidden = false;
  });
}

document.querySelectorAll("form[data-upload]").forEach(uploadEpisode);
document.querySelectorAll("form[data-api-put]").forEach(putFile);
document.querySelectorAll("input[data-preview]").forEach(previewImage);
