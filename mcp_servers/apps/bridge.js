// One page, two transports. Inside an MCP host (an iframe) the page speaks MCP Apps
// (io.modelcontextprotocol/ui): JSON-RPC 2.0 over postMessage, and the host calls the tools. Opened
// in a browser (/app/, /admin/, /provider/) the page is a plain MCP client: each tool call is one
// stateless 2026-07-28 POST to /mcp with the signed-in bearer token, so the same role gate, use cases
// and errors apply. No library: the page loads nothing from another origin, and this is all it needs.
"use strict";
const caas = (() => {
  const inHost = window.parent !== window;
  const TOKEN_KEY = "caas.token";
  const PROTOCOL = "2026-07-28";
  let nextId = 1;
  let locale;
  let timeZone;
  const pending = new Map();
  const handlers = {};
  const send = (message) => window.parent.postMessage({ jsonrpc: "2.0", ...message }, "*");
  const hostRequest = (method, params) =>
    new Promise((resolve, reject) => {
      const id = nextId++;
      pending.set(id, { resolve, reject });
      send({ id, method, params });
    });
  window.addEventListener("message", (event) => {
    if (!inHost || event.source !== window.parent) return; // only the host speaks to this page
    const msg = event.data || {};
    if (msg.id !== undefined && pending.has(msg.id)) {
      const { resolve, reject } = pending.get(msg.id);
      pending.delete(msg.id);
      return msg.error ? reject(new Error(msg.error.message)) : resolve(msg.result);
    }
    const handle = handlers[msg.method];
    if (handle) handle(msg.params || {});
  });

  const token = () => sessionStorage.getItem(TOKEN_KEY);
  const toolsetsMeta = document.querySelector('meta[name="caas-toolsets"]');
  const toolsets = toolsetsMeta ? toolsetsMeta.content : "";
  class SignedOut extends Error {}
  // A tool call over HTTP, answered as the host would answer it: a CallToolResult. With ``ask`` (a money
  // move), the page declares elicitation: the server's question goes to ask(message) -> true/false, the
  // person's answer goes back on the retry (2026-07-28 input_required), and the result is the tool's.
  const httpCall = async (name, args, ask, retry, round = 0) => {
    const bearer = token();
    if (!bearer) throw new SignedOut("sign in first");
    const meta = {
      "io.modelcontextprotocol/protocolVersion": PROTOCOL,
      "io.modelcontextprotocol/clientInfo": { name: "caas-web", version: "1" },
      "io.modelcontextprotocol/clientCapabilities": ask ? { elicitation: { form: {} } } : {},
    };
    const response = await fetch("/mcp", {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json, text/event-stream",
        Authorization: "Bearer " + bearer,
        "MCP-Protocol-Version": PROTOCOL,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        // A page that needs tools beyond its role's default toolsets names them (X-CaaS-Toolsets).
        ...(toolsets ? { "X-CaaS-Toolsets": toolsets } : {}),
      },
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: nextId++,
        method: "tools/call",
        params: { name, arguments: args, _meta: meta, ...(retry || {}) },
      }),
    });
    if (response.status === 401) {
      sessionStorage.removeItem(TOKEN_KEY);
      throw new SignedOut("your sign-in expired or was refused: sign in again");
    }
    const text = await response.text();
    let body;
    try {
      // A JSON answer, or (from a server that streams) the last SSE data line.
      const data = text.trimStart().startsWith("{") ? text : text.split("\n").filter((l) => l.startsWith("data:")).pop().slice(5);
      body = JSON.parse(data);
    } catch (_) {
      throw new Error(`the server answered HTTP ${response.status} without a tool result; try again`);
    }
    if (body.error) throw new Error(body.error.message);
    const result = body.result;
    if (!ask || !result || result.resultType !== "input_required" || round > 3) return result;
    const inputResponses = {};
    for (const [key, request] of Object.entries(result.inputRequests || {})) {
      const yes = await ask((request.params || {}).message || "Go ahead?");
      inputResponses[key] = yes ? { action: "accept", content: { confirm: true } } : { action: "decline" };
    }
    return httpCall(name, args, ask, { inputResponses, requestState: result.requestState }, round + 1);
  };
  const callTool = (name, args, ask) =>
    inHost ? hostRequest("tools/call", { name, arguments: args }) : httpCall(name, args, ask);

  // A failed call, as the tool worded it (its code first), for #status.
  class ToolFailure extends Error {
    constructor(result) {
      super((result.content || []).map((c) => c.text || "").join(" ") || "the call failed");
      this.code = (result._meta || {})["caas/error_code"];
    }
  }
  // The structured result of a tool, or a ToolFailure carrying the tool's own message.
  const tool = async (name, args, ask) => {
    const result = await callTool(name, args || {}, ask);
    if (result.isError) throw new ToolFailure(result);
    return result.structuredContent;
  };

  const money = (m) =>
    // A decimal string is formatted exactly (Intl.NumberFormat v3), with the currency's own digits.
    new Intl.NumberFormat(locale, { style: "currency", currency: m.currency }).format(m.amount);
  // An instant, in the viewer's time zone (the host's, or the browser's).
  const time = (iso) =>
    iso ? new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeStyle: "short", timeZone }).format(new Date(iso)) : "—";
  // A calendar date (a due date) is a day, not an instant: never shifted by a time zone.
  const day = (iso) =>
    new Intl.DateTimeFormat(locale, { dateStyle: "medium", timeZone: "UTC" }).format(new Date(iso + "T00:00:00Z"));
  const percent = (v, digits = 2) =>
    v === null || v === undefined ? "—" : new Intl.NumberFormat(locale, { style: "percent", maximumFractionDigits: digits }).format(v);
  const el = (tag, text, attrs) => {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text); // textContent only: the data is text, never markup
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
    return node;
  };
  const status = (text, isError) => {
    const node = document.getElementById("status");
    if (!node) return;
    node.textContent = text || "";
    if (isError) node.setAttribute("role", "alert");
    else node.removeAttribute("role");
  };
  // Shows a failure where the person looks (#status); a lapsed sign-in brings the form back.
  const report = (err) => {
    if (err instanceof SignedOut) return signIn(err.message);
    status(err.message, true);
  };
  const resized = () => inHost && send({ method: "ui/notifications/size-changed", params: { height: document.body.scrollHeight } });

  // Every destructive or money-moving button asks first, in a modal dialog naming exactly what happens.
  const confirm = (question, detail, yes) =>
    new Promise((resolve) => {
      const dialog = el("dialog", null, { "aria-labelledby": "caas-confirm-title" });
      const title = el("h2", question, { id: "caas-confirm-title" });
      const ok = el("button", yes || "Yes", { type: "button" });
      const no = el("button", "Cancel", { type: "button" });
      dialog.append(title, el("p", detail || ""), ok, " ", no);
      const done = (answer) => {
        dialog.close();
        dialog.remove();
        resolve(answer);
      };
      ok.addEventListener("click", () => done(true));
      no.addEventListener("click", () => done(false));
      dialog.addEventListener("cancel", () => done(false));
      document.body.append(dialog);
      dialog.showModal();
      no.focus();
    });

  // The browser's sign-in: a bearer token (a local token from `caas token`, or a Supabase Auth access
  // token when Supabase is configured), kept for this tab only.
  let started;
  const signIn = (why) => {
    let form = document.getElementById("signin");
    if (!form) {
      form = el("form", null, { id: "signin", "aria-labelledby": "signin-title" });
      const input = el("input", null, { id: "signin-token", type: "password", required: "", autocomplete: "off" });
      form.append(
        el("h2", "Sign in", { id: "signin-title" }),
        el("label", "Access token", { for: "signin-token" }),
        " ",
        input,
        " ",
        el("button", "Sign in", { type: "submit" }),
      );
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, input.value.trim());
        input.value = "";
        form.hidden = true;
        document.getElementById("content").hidden = false;
        status("");
        started();
      });
      document.querySelector("main").prepend(form);
    }
    form.hidden = false;
    document.getElementById("content").hidden = true;
    status(why || "Sign in with your access token.", Boolean(why));
    document.getElementById("signin-token").focus();
  };
  const signOut = () => {
    sessionStorage.removeItem(TOKEN_KEY);
    location.reload();
  };

  // Runs main({mode, input, result}) once tools may be called: in a host after ui/initialize and the
  // tool input and result the host passes (or 3 s without them), in a browser once signed in.
  let later = null;
  const onResult = (fn) => { later = fn; };
  const boot = (main) => {
    let input = null;
    let first = null;
    const run = () => Promise.resolve(main({ mode: inHost ? "app" : "web", input, result: first })).catch(report);
    if (!inHost) {
      started = run;
      const out = document.getElementById("signout");
      if (out) out.addEventListener("click", signOut);
      if (!token()) return signIn();
      const content = document.getElementById("content"); // still signed in (a reload): straight in
      if (content) content.hidden = false;
      return run();
    }
    const out = document.getElementById("signout");
    if (out) out.hidden = true;
    let arrived;
    const resultArrived = new Promise((resolve) => { arrived = resolve; });
    handlers["ui/notifications/tool-input"] = (p) => { input = p.arguments || {}; };
    handlers["ui/notifications/tool-result"] = (p) => {
      if (first === null) { first = p; arrived(); } else if (later) later(p); // the host ran the tool again
    };
    handlers["ui/notifications/host-context-changed"] = (p) => { timeZone = p.timeZone || timeZone; };
    return hostRequest("ui/initialize", {
      protocolVersion: "2026-01-26",
      appInfo: { name: "caas-" + document.title, version: "1" },
      appCapabilities: {},
    }).then((r) => {
      const context = (r && r.hostContext) || {};
      locale = context.locale;
      timeZone = context.timeZone;
      send({ method: "ui/notifications/initialized", params: {} });
      return Promise.race([resultArrived, new Promise((resolve) => setTimeout(resolve, 3000))]);
    }).then(run);
  };

  // Live changes the signed-in principal may see (/live/ws, else /live/events): onEvent({type, entity,
  // id, reference, occurred_at}). A host page has no live socket (its CSP allows no connection).
  const live = (onEvent, onState) => {
    if (inHost || !token()) return false;
    let delay = 1000;
    const state = (s) => onState && onState(s);
    const deliver = (data) => {
      const message = JSON.parse(data);
      if (message.type === "live.ready") { delay = 1000; return state("live"); }
      onEvent(message);
    };
    const again = () => { state("reconnecting"); setTimeout(connect, delay); delay = Math.min(delay * 2, 15000); };
    const sse = () => {
      const source = new EventSource("/live/events?access_token=" + encodeURIComponent(token()));
      source.onmessage = (e) => deliver(e.data);
      source.addEventListener("live.ready", (e) => deliver(e.data));
      source.onerror = () => { source.close(); again(); };
      return source;
    };
    const connect = () => {
      if (!token()) return setTimeout(connect, 1000);
      if (!("WebSocket" in window)) return sse();
      const ws = new WebSocket(location.protocol.replace("http", "ws") + "//" + location.host + "/live/ws");
      let opened = false;
      ws.onopen = () => { opened = true; ws.send(JSON.stringify({ access_token: token() })); };
      ws.onmessage = (e) => deliver(e.data);
      ws.onclose = (e) => {
        if (!opened) return sse(); // no WebSocket through this proxy: Server-Sent Events instead
        if (e.code === 1008 && !token()) signIn("your sign-in expired: sign in again");
        again(); // connect() waits for the person to sign in again, then follows with the new token
      };
    };
    connect();
    return true;
  };

  // The single-tool views (offers, schedule, confirmations): render the result the host passes; Refresh
  // and Next call the same tool again with the arguments the host showed.
  let reload = () => {};
  const show = (result, render) => {
    if (result.isError) return status(new ToolFailure(result).message, true);
    status("");
    render(result.structuredContent);
    resized();
  };
  const start = (render) => {
    const name = document.querySelector('meta[name="caas-tool"]').content;
    boot(({ input, result }) => {
      const again = async (button, extra) => {
        button.disabled = true;
        try {
          show(await callTool(name, { ...(input || {}), ...extra }), render);
        } catch (err) {
          report(err);
        } finally {
          button.disabled = false;
        }
      };
      const refresh = document.getElementById("refresh");
      reload = () => again(refresh, {});
      refresh.addEventListener("click", reload);
      const next = document.getElementById("next");
      if (next) next.addEventListener("click", () => again(next, { cursor: next.dataset.cursor }));
      onResult((p) => show(p, render));
      if (result) show(result, render);
    });
  };
  // Another tool the page names in a <meta name="caas-tool-..."> (as the server exposes it).
  const call = (meta, args) => callTool(document.querySelector(`meta[name="${meta}"]`).content, args);

  // bearer(): the signed-in token, for a same-origin request that is not a tool call (a local upload).
  return { inHost, onResult, bearer: token, money, time, day, percent, el, status, report, resized, confirm, boot, live, tool, start, call, show, reload: () => reload() };
})();
