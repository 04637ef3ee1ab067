// flow2api admin: small progressive enhancements. Every page works without this file.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  // Ask before destructive posts (forms carrying data-confirm).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // Copy buttons next to secrets shown once.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const input = document.querySelector(button.dataset.copy);
      if (!input) return;
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        button.textContent = "Copied";
      } catch {
        document.execCommand("copy");
      }
    });
  }

  // Client-side table filter: <input data-filter="#table-id, #other-table"> filters every table it names.
  for (const input of document.querySelectorAll("input[data-filter]")) {
    const tables = [...document.querySelectorAll(input.dataset.filter)];
    if (!tables.length) continue;
    input.addEventListener("input", () => {
      const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
      for (const row of tables.flatMap((table) => [...table.tBodies[0].rows])) {
        const text = row.textContent.toLowerCase();
        row.hidden = !words.every((w) => text.includes(w));
      }
    });
  }

  // Auto-refresh of a server-rendered fragment: <div data-refresh="url" data-interval="ms">.
  for (const box of document.querySelectorAll("[data-refresh]")) {
    const interval = Number(box.dataset.interval || 10000);
    setInterval(async () => {
      if (document.hidden) return;
      try {
        const response = await fetch(box.dataset.refresh, { credentials: "same-origin" });
        // a redirect means the session ended: keep the table rather than show the login form inside it
        if (response.ok && !response.redirected && response.headers.get("content-type")?.startsWith("text/html")) {
          box.innerHTML = await response.text();  // our own server-rendered, autoescaped fragment
        }
      } catch {
        // offline for a moment: keep the last table
      }
    }, interval);
  }
});
