// Operator console: shared helpers of its sections (console-*.js), each section calling the tools the
// signed-in operator or admin may call, as that principal. No second permission model: whatever the page
// offers, the tool decides, and a refusal is shown in the tool's own words.
"use strict";
const con = (() => {
  const { el } = caas;
  const $ = (id) => document.getElementById(id);

  // A row of cells: the first a row header (the thing the row is about), then plain cells or nodes.
  const row = (head, ...cells) => {
    const tr = el("tr");
    tr.append(el("th", head, { scope: "row" }));
    for (const cell of cells) {
      if (cell instanceof Node) tr.append(cell);
      else if (cell && typeof cell === "object" && "num" in cell) tr.append(el("td", cell.num, { class: "num" }));
      else tr.append(el("td", cell === null || cell === undefined ? "—" : cell));
    }
    return tr;
  };
  const cell = (...nodes) => {
    const td = el("td");
    td.append(...nodes);
    return td;
  };
  const button = (label, onClick) => {
    const b = el("button", label, { type: "button" });
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await onClick();
      } finally {
        b.disabled = false;
      }
    });
    return b;
  };
  // Fills a table body; an empty list hides the table and shows its "nothing" paragraph instead.
  const fill = (tableId, rows, emptyId) => {
    const table = $(tableId);
    table.tBodies[0].replaceChildren(...rows);
    table.hidden = rows.length === 0;
    if (emptyId) $(emptyId).hidden = rows.length !== 0;
  };
  // A definition list of label -> value (text), in order.
  const facts = (dl, pairs) => {
    dl.replaceChildren();
    for (const [label, value] of pairs) {
      dl.append(el("dt", label), el("dd", value === null || value === undefined || value === "" ? "—" : value));
    }
  };
  // An outcome line in a section: a success as text, a refusal as an alert in the tool's own words.
  const tell = (id, text, failed) => {
    const node = $(id);
    node.textContent = text || "";
    if (failed) node.setAttribute("role", "alert");
    else node.removeAttribute("role");
  };
  // Runs a tool call for a section's action; a refusal goes to that section's outcome line.
  const act = async (outcomeId, work, success) => {
    try {
      const done = await work();
      tell(outcomeId, success ? success(done) : "");
      return done;
    } catch (err) {
      if (err.code === undefined && /sign in/.test(err.message)) {
        report(err);
        return null;
      }
      tell(outcomeId, err.message, true);
      return null;
    }
  };
  const key = () => "console-" + (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
  const money = (m) => (m ? caas.money(m) : "—");

  // Each section registers how to (re)load itself; reload() coalesces bursts of live events.
  const loaders = {};
  const timers = {};
  // A refused sign-in is reported once (the first refusal says why); calls after it are not reported.
  let signedOut = false;
  const report = (err) => {
    if (signedOut) return;
    if (err.code === undefined && /sign in/.test(err.message)) signedOut = true;
    caas.report(err);
  };
  const load = async (name) => {
    if (signedOut) return;
    try {
      await loaders[name]();
    } catch (err) {
      report(err);
    }
  };
  const signedIn = () => { signedOut = false; };
  const reload = (...names) => {
    for (const name of names) {
      clearTimeout(timers[name]);
      timers[name] = setTimeout(() => load(name), 150);
    }
  };
  const loadAll = () => Promise.all(Object.keys(loaders).map(load));

  return { $, row, cell, button, fill, facts, tell, act, key, money, loaders, load, reload, loadAll, report, signedIn };
})();
