// Money moves awaiting a person, shared by confirmations.html and the operator console: each pending
// action as a table row with its exact summary, and Confirm… / Refuse… buttons that ask first in a dialog
// showing that summary (a refusal needs a reason). The server's rules decide who may; the page adds a
// person's click, never a way around them.
"use strict";
const pendingActions = (() => {
  const { el, time } = caas;
  let dialog;
  let parts;
  let answer = null;

  const build = () => {
    dialog = el("dialog", null, { "aria-labelledby": "ask-title" });
    const form = el("form", null, { method: "dialog" });
    const title = el("h2", null, { id: "ask-title" });
    const detail = el("p", null, { id: "ask-detail" });
    const field = el("div");
    const reason = el("textarea", null, { id: "ask-reason", minlength: "3", maxlength: "500", rows: "3" });
    const label = el("label", null, { for: "ask-reason" });
    field.append(label, reason);
    const yes = el("button", null, { type: "submit" });
    const no = el("button", "Cancel", { type: "button" });
    form.append(title, detail, field, yes, " ", no);
    dialog.append(form);
    document.body.append(dialog);
    parts = { title, detail, field, reason, label, yes };
    no.addEventListener("click", () => dialog.close());
    form.addEventListener("submit", () => { answer = parts.field.hidden ? "" : reason.value.trim(); });
  };

  // Asks in a modal dialog; resolves the reason typed ("" when none is asked), or null when cancelled.
  // reasonLabel: a reason is required (at least 3 characters) under that label; omit it to ask none.
  const ask = ({ title, detail, yes, reasonLabel }) =>
    new Promise((resolve) => {
      if (!dialog) build();
      parts.title.textContent = title;
      parts.detail.textContent = detail || "";
      parts.field.hidden = !reasonLabel;
      parts.label.textContent = reasonLabel || "";
      parts.reason.required = Boolean(reasonLabel);
      parts.reason.value = "";
      parts.yes.textContent = yes;
      answer = null;
      dialog.addEventListener("close", () => resolve(answer), { once: true });
      dialog.showModal();
      (reasonLabel ? parts.reason : parts.yes).focus();
    });

  // Confirms (or refuses) one pending action after asking; {ok, text} for the page to show, or null when
  // the person cancelled.
  const decide = async (item, confirming) => {
    const reason = await ask({
      title: confirming ? "Confirm this money move?" : "Refuse this money move?",
      detail: item.summary,
      yes: confirming ? "Yes, confirm it" : "Yes, refuse it",
      reasonLabel: confirming ? null : "Why you refuse it (the one who asked reads it)",
    });
    if (reason === null) return null;
    try {
      if (confirming) {
        const done = await caas.tool("{{TOOL:confirm_action}}", { action: item.action });
        return { ok: true, text: "Confirmed: " + done.summary };
      }
      const done = await caas.tool("{{TOOL:decline_action}}", { action: item.action, reason });
      return { ok: true, text: "Refused: " + done.summary };
    } catch (err) {
      return { ok: false, text: err.message, error: err };
    }
  };

  // Shows an outcome in ``node``: a refusal as an alert, in the tool's own words.
  const tell = (node, outcome) => {
    if (!outcome) return;
    node.textContent = outcome.text;
    if (outcome.ok) node.removeAttribute("role");
    else node.setAttribute("role", "alert");
  };

  // Fills ``body`` with one row per action; after a decision, ``done(outcome)`` (to show it and reload).
  const rows = (body, items, done) => {
    body.replaceChildren();
    for (const item of items) {
      const buttons = el("td");
      if (item.status === "pending") {
        const yes = el("button", "Confirm…", { type: "button" });
        const no = el("button", "Refuse…", { type: "button" });
        yes.addEventListener("click", async () => done(await decide(item, true)));
        no.addEventListener("click", async () => done(await decide(item, false)));
        buttons.append(yes, " ", no);
      }
      const row = el("tr");
      row.append(
        el("th", item.summary, { scope: "row" }),
        el("td", item.requested_by),
        el("td", time(item.requested_at)),
        el("td", time(item.expires_at)),
        el("td", item.status + (item.decline_reason ? ": " + item.decline_reason : "")),
        buttons,
      );
      body.append(row);
    }
  };

  return { ask, decide, tell, rows };
})();
