// flow2api admin playground: calls the public chat completions API with stream: true and shows
// the SSE progress and the resulting image or video. The API key never leaves the browser tab
// except towards /v1 of this same server.
"use strict";

const KEY_STORE = "flow2api.playground.key";

function $(id) { return document.getElementById(id); }

function readAsDataURL(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// The result arrives as markdown (![Generated Image](url)), an HTML <video src='url'> tag or a
// markdown link. Only the URL is taken out of it, and only http(s) or same-origin URLs are used:
// nothing from the stream is ever inserted as HTML.
function mediaUrls(text) {
  const urls = [];
  const patterns = [/!\[[^\]]*\]\(([^)\s]+)\)/g, /<video[^>]*\ssrc=['"]([^'"]+)['"]/g, /\[[^\]]*\]\(([^)\s]+)\)/g];
  for (const pattern of patterns) {
    for (const match of text.matchAll(pattern)) {
      try {
        const url = new URL(match[1], window.location.href);
        if ((url.protocol === "http:" || url.protocol === "https:") && !urls.includes(url.href)) urls.push(url.href);
      } catch { /* not a URL */ }
    }
  }
  return urls;
}

function showResult(urls, kind) {
  const box = $("pg-result");
  box.replaceChildren();
  if (!urls.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "The answer held no media URL.";
    box.append(p);
    return;
  }
  for (const url of urls) {
    const isVideo = kind === "video" || /\.(mp4|webm|mov)(\?|$)/i.test(url);
    const media = document.createElement(isVideo ? "video" : "img");
    media.src = url;
    if (isVideo) media.controls = true; else media.alt = "generated image";
    media.className = "generated";
    const link = document.createElement("a");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = url;
    box.append(media, link);
  }
}

function setStatus(text, cls) {
  const status = $("pg-status");
  status.textContent = text;
  status.className = "status" + (cls ? " " + cls : "");
}

let controller = null;

async function run(event) {
  event.preventDefault();
  const key = $("pg-key").value.trim();
  const model = $("pg-model").value;
  const kind = $("pg-model").selectedOptions[0]?.dataset.kind || "image";
  const prompt = $("pg-prompt").value.trim();
  if ($("pg-remember").checked) sessionStorage.setItem(KEY_STORE, key); else sessionStorage.removeItem(KEY_STORE);

  let content = prompt;
  const file = $("pg-image").files[0];
  if (file) {
    content = [{ type: "text", text: prompt }, { type: "image_url", image_url: { url: await readAsDataURL(file) } }];
  }

  controller = new AbortController();
  $("pg-run").disabled = true;
  $("pg-stop").disabled = false;
  $("pg-log").textContent = "";
  $("pg-result").replaceChildren();
  setStatus("Sending…", "busy");
  let answer = "";
  try {
    const response = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "Authorization": "Bearer " + key },
      body: JSON.stringify({ model, stream: true, messages: [{ role: "user", content }] }),
      signal: controller.signal,
      credentials: "omit",
    });
    if (!response.ok) {
      let message = "HTTP " + response.status;
      try { message += ": " + (await response.json()).error.message; } catch { /* not JSON */ }
      throw new Error(message);
    }
    setStatus("Generating…", "busy");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf("\n\n")) >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("\n");
        if (!data || data === "[DONE]") continue;
        const chunk = JSON.parse(data);
        if (chunk.error) throw new Error(chunk.error.message || "generation failed");
        const delta = chunk.choices?.[0]?.delta || {};
        if (delta.reasoning_content) {
          $("pg-log").textContent += delta.reasoning_content;
          setStatus(delta.reasoning_content.trim().split("\n").pop() || "Generating…", "busy");
        }
        if (delta.content) answer += delta.content;
      }
    }
    const urls = mediaUrls(answer);
    if (!urls.length && answer) $("pg-log").textContent += answer;
    showResult(urls, kind);
    setStatus(urls.length ? "Done." : "Finished without media.", urls.length ? "ok" : "bad");
  } catch (error) {
    setStatus(error.name === "AbortError" ? "Stopped." : "Failed: " + error.message, "bad");
  } finally {
    $("pg-run").disabled = false;
    $("pg-stop").disabled = true;
    controller = null;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const saved = sessionStorage.getItem(KEY_STORE);
  if (saved) { $("pg-key").value = saved; $("pg-remember").checked = true; }
  $("playground-form").addEventListener("submit", run);
  $("pg-stop").addEventListener("click", () => controller?.abort());
});
