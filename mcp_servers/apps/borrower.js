// Your credit application: the page's shared state and its first section (the applications, the chosen
// one's status and timeline). Each section is a file of its own (borrower-*.js); borrower-main.js boots.
"use strict";
const B = (() => {
  const { el, money, time } = caas;
  const $ = (id) => document.getElementById(id);
  const state = { mode: "web", app: null, apps: [], loan: null, conversation: null };
  const words = (s) => String(s || "").replace(/_/g, " ");
  // A fresh key per action the person means to take (a retry of the same action reuses it).
  const key = (what) => what + "-" + (crypto.randomUUID ? crypto.randomUUID() : Date.now() + "-" + Math.random().toString(16).slice(2));
  const button = (text, onClick, attrs) => {
    const b = el("button", text, { type: "button", ...(attrs || {}) });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await onClick();
      } catch (err) {
        caas.report(err);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  const terms = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));
  const section = {}; // name -> async reload(), filled in by each section's file

  // Coalesces a burst of live events into one reload per section.
  const queued = new Set();
  const soon = (name) => {
    if (queued.has(name)) return;
    queued.add(name);
    Promise.resolve().then(async () => {
      queued.delete(name);
      try {
        await section[name]();
      } catch (err) {
        caas.report(err);
      }
    });
  };

  const showApp = (a) => {
    state.app = a;
    $("app").hidden = false;
    $("app-title").textContent = a.reference;
    $("app-status").textContent = words(a.status);
    terms($("app-terms"), [
      ["Amount", a.requested_amount ? money(a.requested_amount) : "—"],
      ["Term", a.term_months ? a.term_months + " months" : "—"],
      ["Purpose", words(a.purpose) || "—"],
      ["Submitted", time(a.submitted_at)],
      ["Last change", time(a.status_changed_at)],
    ]);
    $("submit-draft").hidden = a.status !== "draft";
  };

  const timeline = async () => {
    const t = await caas.tool("{{TOOL:get_application_timeline}}", { application: state.app.id });
    $("app-status").textContent = words(t.status);
    $("timeline").querySelector("tbody").replaceChildren(
      ...t.entries.map((e) => {
        const row = el("tr");
        row.append(el("td", time(e.occurred_at)), el("td", words(e.from_status) || "—"), el("td", words(e.to_status)), el("td", e.reason));
        return row;
      }),
    );
  };

  // The chosen application, read again, with everything that hangs off it.
  const application = async () => {
    if (!state.app) return;
    showApp(await caas.tool("{{TOOL:get_application}}", { application: state.app.id }));
    await Promise.all([timeline(), section.docs(), section.offers()]);
  };

  const choose = async (a) => {
    showApp(a);
    await application();
  };

  const applications = async () => {
    if (state.mode === "app") return; // a host shows the application it was given
    const page = await caas.tool("{{TOOL:list_applications}}", { limit: 20 });
    state.apps = page.items;
    $("apps").querySelector("tbody").replaceChildren(
      ...page.items.map((a) => {
        const row = el("tr");
        row.append(
          el("th", a.reference, { scope: "row" }),
          el("td", a.requested_amount ? money(a.requested_amount) : "—", { class: "num" }),
          el("td", words(a.status)),
          el("td", time(a.created_at)),
          el("td"),
        );
        row.lastChild.append(button("Open", () => choose(a), { "aria-label": "Open " + a.reference }));
        return row;
      }),
    );
    $("apps-empty").hidden = page.items.length > 0;
    const still = state.app && page.items.find((a) => a.id === state.app.id);
    if (still) await application();
    else if (page.items.length) await choose(page.items[0]);
  };

  $("submit-draft").addEventListener("click", async () => {
    const a = state.app;
    const what = (a.requested_amount ? money(a.requested_amount) : "no amount yet") + " over " + (a.term_months || "?") + " months";
    if (!(await caas.confirm("Submit " + a.reference + " for assessment?", what, "Yes, submit it"))) return;
    try {
      await caas.tool("{{TOOL:submit_application}}", { draft: a.id, idempotency_key: key("submit") });
      await applications();
    } catch (err) {
      caas.report(err);
    }
  });

  section.applications = applications;
  section.application = application;
  return { $, state, words, key, button, terms, section, soon, showApp, application };
})();
