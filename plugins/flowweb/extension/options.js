// Options page: edits the settings background.js reads from chrome.storage.local.
const FIELDS = ["serverUrl", "token", "email", "targetOrigin"];

async function show() {
  const stored = await chrome.storage.local.get([...FIELDS, "status", "statusDetail"]);
  for (const field of FIELDS) document.getElementById(field).value = stored[field] || "";
  document.getElementById("status").textContent = `Status: ${stored.status || "unknown"} ${stored.statusDetail || ""}`;
}

document.getElementById("save").addEventListener("click", async () => {
  const values = {};
  for (const field of FIELDS) values[field] = document.getElementById(field).value.trim();
  if (!values.targetOrigin) values.targetOrigin = "https://flow.google.com";
  await chrome.storage.local.set(values);
  await show();
});
chrome.storage.onChanged.addListener(show);
show();
