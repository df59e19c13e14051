// Offers: the live bids on the chosen application ranked by APR (compare_offers), each one's schedule,
// and accepting one: the exact terms are confirmed first; the server may then ask the person again (the
// page declares elicitation) or leave a pending money move, which the borrower confirms or refuses here,
// as it does one its agent asked for from a client that could not ask the person (listed as waiting).
"use strict";
(() => {
  const { el, money, time, day } = caas;
  const { $, state, button, section } = B;
  let comparison = null;
  // The application the outcome line speaks of: a reload after a decision keeps it, another application clears it.
  let outcomeFor = null;
  const tellOutcome = (text) => {
    outcomeFor = state.app && state.app.id;
    $("offers-outcome").textContent = text;
  };

  // Not open for bids: no table; the section stays only to say what the last decision did.
  const hideAll = () => {
    for (const id of ["offers", "offers-none", "offer-schedule"]) $(id).hidden = true;
    $("offers-summary").textContent = $("offers-explanation").textContent = "";
    $("offers-section").hidden = !$("offers-outcome").textContent;
  };

  const showSchedule = (o) => {
    $("offer-schedule-title").textContent = "Schedule of the offer from " + o.bid.provider_name + " (as if it started today)";
    $("offer-schedule").querySelector("tbody").replaceChildren(
      ...o.schedule.map((l) => {
        const row = el("tr");
        row.append(
          el("th", l.number, { scope: "row", class: "num" }),
          el("td", day(l.due_date)),
          el("td", money(l.principal), { class: "num" }),
          el("td", money(l.interest), { class: "num" }),
          el("td", money(l.total), { class: "num" }),
          el("td", money(l.balance_after), { class: "num" }),
        );
        return row;
      }),
    );
    $("offer-schedule").hidden = false;
  };

  const exactTerms = (o) =>
    money(o.bid.amount) + " from " + o.bid.provider_name + " at " + o.apr_percent + "% APR (fees included): " +
    o.installments + " installments of " + money(o.installment) + ", origination fee " + money(o.bid.origination_fee) +
    ", total cost of credit " + money(o.finance_charge) + ", total of payments " + money(o.total_of_payments) + ".";

  // A money move left waiting for a person: its summary, and the borrower's own decision.
  const decidePending = (actionId, fallback) =>
    new Promise(async (resolve) => {
      let summary = fallback;
      try {
        const list = await caas.tool("{{TOOL:list_pending_actions}}", {});
        const found = (list.items || []).find((i) => i.action === actionId);
        if (found) summary = found.summary;
      } catch (_) {
        // the message itself names the move
      }
      const dialog = $("pending");
      $("pending-summary").textContent = summary;
      $("pending-reason").value = "";
      const done = (answer) => {
        dialog.close();
        resolve(answer);
      };
      const decide = async (confirming) => {
        dialog.close(); // the server may ask the person once more, in a dialog of its own
        try {
          // Confirming a move this person asked for: the server asks them once more, here (elicitation).
          const result = confirming
            ? await caas.tool("{{TOOL:confirm_action}}", { action: actionId }, askPerson)
            : await caas.tool("{{TOOL:decline_action}}", { action: actionId, reason: $("pending-reason").value || "I changed my mind" });
          done({ confirming, result });
        } catch (err) {
          done(null);
          caas.report(err);
        }
      };
      $("pending-yes").onclick = () => decide(true);
      $("pending-no").onclick = () => decide(false);
      $("pending-later").onclick = () => done(null);
      dialog.showModal();
      $("pending-later").focus();
    });

  const askPerson = (question) => caas.confirm("Confirm this money move?", question, "Yes, confirm it");

  const accept = async (o) => {
    const ok = await caas.confirm("Accept the offer from " + o.bid.provider_name + "?", exactTerms(o), "Yes, accept it");
    if (!ok) return;
    const args = { application: comparison.application_id, bid: o.bid.id, idempotency_key: B.key("accept") };
    tellOutcome("");
    try {
      const done = await caas.tool("{{TOOL:accept_offer}}", args, askPerson);
      tellOutcome(done ? "Accepted: " + o.bid.provider_name + "'s offer, " + B.words(done.application_status) + "." : "");
    } catch (err) {
      const pending = err.code === "confirmation_required" && /action ([0-9a-f-]{36})/.exec(err.message);
      if (!pending) throw err;
      const decided = await decidePending(pending[1], err.message);
      if (decided) tellOutcome((decided.confirming ? "Confirmed: " : "Refused: ") + decided.result.summary);
    }
    await section.application();
  };

  const render = (c) => {
    comparison = c;
    $("offers-section").hidden = false;
    $("offers-summary").textContent =
      money(c.requested_amount) + " over " + c.term_months + " months · compared " + time(c.compared_at);
    $("offers").querySelector("tbody").replaceChildren(
      ...c.offers.map((o) => {
        const best = o.bid.id === c.best_bid_id;
        const row = el("tr", null, best ? { class: "best" } : {});
        const choose = el("td");
        choose.append(
          button("Schedule", async () => showSchedule(o), { "aria-label": "Schedule of " + o.bid.provider_name + "'s offer" }),
          " ",
          button("Accept…", () => accept(o)),
        );
        row.append(
          el("td", o.rank, { class: "num" }),
          el("th", o.bid.provider_name + (best ? " (best)" : ""), { scope: "row" }),
          el("td", o.apr_percent + "%", { class: "num" }),
          el("td", money(o.installment), { class: "num" }),
          el("td", o.installments, { class: "num" }),
          el("td", money(o.finance_charge), { class: "num" }),
          el("td", money(o.total_of_payments), { class: "num" }),
          el("td", time(o.bid.valid_until)),
          choose,
        );
        return row;
      }),
    );
    $("offers").hidden = c.offers.length === 0;
    $("offers-none").hidden = c.offers.length > 0;
    $("offers-explanation").textContent = c.explanation;
  };

  // Acceptances the borrower's agent asked for that wait for the borrower: each decided here.
  const showWaiting = async () => {
    const list = await caas.tool("{{TOOL:list_pending_actions}}", {});
    const waiting = (list.items || []).filter((i) => i.tool === "accept_offer" && i.status === "pending");
    $("offers-waiting").hidden = waiting.length === 0;
    $("offers-waiting").querySelector("ul").replaceChildren(
      ...waiting.map((i) => {
        const item = el("li", i.summary + " (asked by " + i.requested_by + ", until " + time(i.expires_at) + ") ");
        item.append(
          button("Decide…", async () => {
            const decided = await decidePending(i.action, i.summary);
            if (decided) tellOutcome((decided.confirming ? "Confirmed: " : "Refused: ") + decided.result.summary);
            await section.application();
          }),
        );
        return item;
      }),
    );
  };

  // Offers exist only while the application is open for bids; otherwise the section stays hidden.
  section.offers = async () => {
    if (!state.app || state.app.id !== outcomeFor) tellOutcome("");
    if (!state.app || state.app.status !== "open_for_bids") {
      $("offers-waiting").hidden = true;
      return hideAll();
    }
    render(await caas.tool("{{TOOL:compare_offers}}", { application: state.app.id }));
    await showWaiting();
  };
})();
