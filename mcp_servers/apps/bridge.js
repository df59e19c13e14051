// The MCP Apps page side (io.modelcontextprotocol/ui): JSON-RPC 2.0 over postMessage with the host.
// No library: the page must load nothing from another origin, and this is all it needs.
"use strict";
const caas = (() => {
  let nextId = 1;
  let locale;
  let timeZone;
  const pending = new Map();
  const handlers = {};
  const send = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const request = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      send({ id, method, params });
    });
  window.addEventListener("message", (event) => {
    if (event.source !== window.parent) return; // only the host speaks to this page
    const msg = event.data || {};
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      return msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result);
    }
    const handle = handlers[msg.method];
    if (handle) handle(msg.params || {});
  });
  const money = (m) =>
    // A decimal string is formatted exactly (Intl.NumberFormat v3), with the currency's own digits.
    new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(m.amount);
  // An instant, in the viewer's time zone (the host's, or the browser's).
  const time = (iso) =>
    iso ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso)) : "—";
  // A calendar date (a due date) is a day, not an instant: never shifted by a time zone.
  const day = (iso) =>
    new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(iso + "T00:00:00Z"));
  const el = (tag, text, attrs) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text); // textContent only: the data is text, never markup
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  };
  const show = (result, render) => {
    const status = document.getElementById("status");
    if (result.isError) {
      status.textContent = (result.content || []).map((c) => c.text || "").join(" ");
      status.setAttribute("role", "alert");
      return;
    }
    status.removeAttribute("role");
    status.textContent = "";
    render(result.structuredContent);
    send({ method: "ui/notifications/size-changed", params: { height: document.body.scrollHeight } });
  };
  // Another tool the page names in a <meta name="caas-tool-..."> (as the server exposes it).
  const call = (meta, args) =>
    request("tools/call", { name: document.querySelector(`meta[name="${meta}"]`).content, arguments: args });
  let reload = () => {};
  const start = (render) => {
    const tool = document.querySelector('meta[name="caas-tool"]').content;
    let args;
    handlers["ui/notifications/tool-input"] = (p) => { args = p.arguments; };
    handlers["ui/notifications/tool-result"] = (p) => show(p, render);
    handlers["ui/notifications/host-context-changed"] = (p) => { timeZone = p.timeZone || timeZone; };
    // Calls back the page's own tool with the arguments the host showed it, changed by `extra`.
    const again = async (button, extra) => {
      if (!args) return;
      button.disabled = true;
      try {
        show(await request("tools/call", { name: tool, arguments: { ...args, ...extra } }), render);
      } catch (err) {
        show({ isError: true, content: [{ text: err.message }] }, render);
      } finally {
        button.disabled = false;
      }
    };
    const refresh = document.getElementById("refresh");
    reload = () => again(refresh, {});
    refresh.addEventListener("click", reload);
    const next = document.getElementById("next");
    if (next) next.addEventListener("click", () => again(next, { cursor: next.dataset.cursor }));
    request("ui/initialize", {
      protocolVersion: "2026-01-26",
      appInfo: { name: "caas-" + tool, version: "1" },
      appCapabilities: {},
    }).then((r) => {
      const context = (r && r.hostContext) || {};
      locale = context.locale;
      timeZone = context.timeZone;
      send({ method: "ui/notifications/initialized", params: {} });
    });
  };
  return { money, time, day, el, start, call, show, reload: () => reload() };
})();
