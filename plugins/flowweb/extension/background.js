// flow2api Flow executor (Manifest V3 service worker).
//
// Connects to flow2api's WebSocket (/api/flowweb/executor), says hello with the executor token and
// the account e-mail, then runs each prepared batchexecute request from a flow.google.com project
// tab: it mints the reCAPTCHA token in the page, substitutes it for the placeholder in f.req,
// reads at / f.sid / bl from the page's WIZ_global_data and POSTs with the tab's own cookies
// (spec flow-google-batchexecute.md §12, shape 1). The raw reply goes back unchanged; flow2api
// parses it. Settings live in chrome.storage.local (see options.html); the target origin is
// configurable so tests can point the extension at the flow2api emulator.

const DEFAULTS = {
  serverUrl: "ws://127.0.0.1:8000/api/flowweb/executor",
  token: "",
  email: "",
  targetOrigin: "https://flow.google.com",
  reconnectMs: 3000,
};
const PLACEHOLDER = "__CAPTCHA__";
const PAGE_TIMEOUT_MS = 30000;

let socket = null;
let reconnectTimer = null;
let config = { ...DEFAULTS };

async function loadConfig() {
  const stored = await chrome.storage.local.get(Object.keys(DEFAULTS));
  config = { ...DEFAULTS, ...stored };
  return config;
}

async function setStatus(status, detail) {
  await chrome.storage.local.set({ status, statusDetail: detail || "", statusAt: Date.now() });
}

function scheduleReconnect() {
  if (reconnectTimer !== null) return;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    connect();
  }, Math.max(200, Number(config.reconnectMs) || DEFAULTS.reconnectMs));
}

async function connect() {
  await loadConfig();
  if (!config.token || !config.serverUrl) {
    await setStatus("not configured", "set the server URL and executor token in the options");
    return;
  }
  if (socket && (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING)) return;
  let ws;
  try {
    ws = new WebSocket(config.serverUrl);
  } catch (error) {
    await setStatus("error", String(error));
    scheduleReconnect();
    return;
  }
  socket = ws;
  ws.onopen = async () => {
    let email = config.email;
    if (!email) email = await readEmail().catch(() => "");
    ws.send(JSON.stringify({
      type: "hello", token: config.token, email, version: chrome.runtime.getManifest().version,
      userAgent: navigator.userAgent,
    }));
  };
  ws.onmessage = (event) => onMessage(ws, event.data);
  ws.onclose = async (event) => {
    if (socket === ws) socket = null;
    await setStatus("disconnected", `code ${event.code}`);
    if (event.code !== 4401) scheduleReconnect(); // a wrong token will not get better by retrying
  };
  ws.onerror = () => {}; // onclose follows and reconnects
}

async function onMessage(ws, data) {
  let message;
  try {
    message = JSON.parse(data);
  } catch (error) {
    return;
  }
  if (message.type === "ping") {
    ws.send('{"type":"pong"}');
  } else if (message.type === "welcome") {
    await setStatus("connected", config.serverUrl);
  } else if (message.type === "execute") {
    let result;
    try {
      result = await execute(message);
    } catch (error) {
      result = { error: "extension", detail: String(error) };
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify({ type: "result", id: message.id, ...result }));
  }
}

function originOf(url) {
  try {
    return new URL(url).origin;
  } catch (error) {
    return "";
  }
}

async function waitForLoad(tabId) {
  const deadline = Date.now() + PAGE_TIMEOUT_MS;
  for (;;) {
    const tab = await chrome.tabs.get(tabId);
    if (tab.status === "complete") return tab;
    if (Date.now() > deadline) throw new Error("the Flow tab did not finish loading");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

// A tab showing the project page (it loads reCAPTCHA; the project grid does not, spec §8).
async function tabFor(pagePath) {
  const origin = config.targetOrigin.replace(/\/$/, "");
  const tabs = (await chrome.tabs.query({})).filter((t) => originOf(t.url || t.pendingUrl || "") === origin);
  let tab = tabs.find((t) => new URL(t.url || t.pendingUrl).pathname === pagePath);
  if (!tab) {
    tab = await chrome.tabs.create({ url: origin + pagePath, active: false });
  } else if (tab.discarded) {
    await chrome.tabs.reload(tab.id);
  }
  return waitForLoad(tab.id);
}

async function inPage(tabId, func, args) {
  const results = await chrome.scripting.executeScript({ target: { tabId }, world: "MAIN", func, args });
  return results && results[0] ? results[0].result : undefined;
}

async function readEmail() {
  const tab = await tabFor("/");
  return inPage(tab.id, () => (window.WIZ_global_data && window.WIZ_global_data.oPEP7c) || "", []);
}

async function execute(request) {
  await loadConfig();
  const tab = await tabFor(request.pagePath || "/");
  const result = await inPage(tab.id, runInPage, [request, PLACEHOLDER, PAGE_TIMEOUT_MS]);
  return result || { error: "extension", detail: "the page returned nothing" };
}

// Runs in the page's MAIN world: must be self-contained (no closures over this file).
async function runInPage(request, placeholder, timeoutMs) {
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const deadline = Date.now() + timeoutMs;
  while (!(window.WIZ_global_data && window.WIZ_global_data.SNlM0e)) {
    if (location.pathname.startsWith("/about")) return { error: "signed-out", detail: location.pathname };
    if (Date.now() > deadline) return { error: "no-bootstrap", detail: "WIZ_global_data.SNlM0e never appeared" };
    await sleep(100);
  }
  const wiz = window.WIZ_global_data;
  let freq = request.freq;
  if (request.action) {
    try {
      while (!(window.grecaptcha && window.grecaptcha.enterprise && window.grecaptcha.enterprise.execute)) {
        if (Date.now() > deadline) return { error: "captcha", detail: "reCAPTCHA is not loaded on this page" };
        await sleep(100);
      }
      await new Promise((resolve) => window.grecaptcha.enterprise.ready(resolve));
      const token = await window.grecaptcha.enterprise.execute(wiz.xZbWve, { action: request.action });
      const inner = JSON.stringify(String(token)).slice(1, -1);
      freq = freq.split(placeholder).join(JSON.stringify(inner).slice(1, -1));
    } catch (error) {
      return { error: "captcha", detail: String(error) };
    }
  }
  window.__flow2apiReqid = window.__flow2apiReqid ? window.__flow2apiReqid + 100000 : 1000 + Math.floor(Math.random() * 9000);
  const params = new URLSearchParams();
  params.set("rpcids", request.rpcid);
  if (request.sourcePath) params.set("source-path", request.sourcePath);
  params.set("bl", wiz.cfb2h);
  params.set("f.sid", wiz.FdrFJe);
  params.set("hl", document.documentElement.lang || "en");
  params.set("_reqid", String(window.__flow2apiReqid));
  params.set("rt", "c");
  const prefix = (location.pathname.match(/^\/u\/\d+/) || [""])[0];
  const body = new URLSearchParams({ "f.req": freq, at: request.xsrf || wiz.SNlM0e }).toString();
  try {
    const reply = await fetch(`${prefix}/_/AiSandboxAngularFrontend/data/batchexecute?${params}`, {
      method: "POST", credentials: "include", body,
      headers: { "content-type": "application/x-www-form-urlencoded;charset=UTF-8", "x-same-domain": "1" },
    });
    return { status: reply.status, text: await reply.text() };
  } catch (error) {
    return { error: "network", detail: String(error) };
  }
}

chrome.storage.onChanged.addListener((changes, area) => {
  if (area !== "local") return;
  if (["serverUrl", "token", "email", "targetOrigin"].some((key) => key in changes)) {
    if (socket) socket.close(1000, "settings changed");
    else connect();
  }
});
chrome.runtime.onStartup.addListener(connect);
chrome.runtime.onInstalled.addListener(connect);
chrome.alarms.create("flow2api-keepalive", { periodInMinutes: 1 });
chrome.alarms.onAlarm.addListener(connect);
connect();
