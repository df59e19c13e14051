// Provider dashboard: the bid form with its live preview (providers' preview_bid: compare_offers' own
// figures), placing, revising and withdrawing bids, declining an invitation, and the list of bids.
"use strict";
(() => {
  const { $, el, money, time, words, state, busy, cell, button, fill, fraction, percentOf } = lender;
  const FREQUENCY = { monthly: "monthly", biweekly: "two-weekly", weekly: "weekly" };
  let target = null; // { invitation, bid }: what the open form bids on (bid: the version revised)
  let timer = null;
  let asked = 0;

  // The form's terms as the tools take them, or the first thing wrong with what was typed.
  const terms = () => {
    const currency = target.invitation.requested_amount.currency;
    const rate = fraction($("bid-rate").value);
    if (rate === null) return { error: "Annual rate (%): type a number, e.g. 24 or 19.5" };
    const amount = $("bid-amount").value.trim();
    const fee = $("bid-fee").value.trim() || "0";
    for (const [name, value] of [["Amount", amount], ["Fee", fee]]) {
      if (!/^\d+(\.\d+)?$/.test(value)) return { error: `${name}: type an amount in ${currency}, e.g. 250000.00` };
    }
    const term = Number($("bid-term").value);
    if (!Number.isInteger(term) || term < 1) return { error: "Term (months): a whole number of months" };
    const days = Number($("bid-valid").value);
    if (!Number.isInteger(days) || days < 1 || days > 90) return { error: "Valid for (days): 1 to 90 days" };
    const bid = {
      currency, amount, annual_rate: rate, term_months: term, origination_fee: fee,
      repayment_frequency: $("bid-frequency").value, schedule_method: $("bid-method").value,
    };
    return { bid, days, conditions: $("bid-conditions").value.trim() || null };
  };

  const row = (dl, name, value) => dl.append(el("dt", name), el("dd", value));
  const showPreview = (p, error) => {
    const box = $("preview");
    if (!p) return box.replaceChildren(el("p", error, { class: "problems" }));
    const dl = el("dl");
    row(dl, "APR (fees included)", `${p.apr_percent}%`);
    row(dl, "Total cost of credit", money(p.finance_charge));
    row(dl, "Installment", `${p.installments} × ${money(p.installment)}`);
    row(dl, "Total of payments", money(p.total_of_payments));
    row(dl, "Amount financed", money(p.amount_financed));
    const parts = [dl];
    if (p.problems.length) {
      const list = el("ul", null, { class: "problems" });
      list.append(...p.problems.map((x) => el("li", x)));
      parts.push(el("p", "place_bid would refuse these terms:", { class: "problems" }), list);
    } else parts.push(el("p", "These terms fit your provider and the application."));
    box.replaceChildren(...parts);
  };
  const preview = (t) => caas.tool("{{TOOL:preview_bid}}", { application: target.invitation.application_id, bid: t.bid });
  // Debounced: one preview a moment after the lender stops typing; a late answer to older terms is dropped.
  const schedule = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const mine = ++asked;
      const t = target && terms();
      if (!t) return;
      if (t.error) return showPreview(null, t.error);
      try {
        const p = await preview(t);
        if (mine === asked) showPreview(p);
      } catch (err) {
        if (mine === asked) showPreview(null, err.message);
      }
    }, 350);
  };
  for (const id of ["bid-rate", "bid-fee", "bid-amount", "bid-term", "bid-frequency", "bid-method"]) {
    $(id).addEventListener("input", schedule);
  }

  const open = (invitation, bid) => {
    target = { invitation, bid };
    const revising = Boolean(bid);
    $("bid-title").textContent = `${revising ? "Revise your bid on" : "Bid on"} ${invitation.reference}`;
    $("bid-submit").textContent = revising ? "Revise bid" : "Place bid";
    for (const node of document.querySelectorAll("#bid-form .currency")) node.textContent = invitation.requested_amount.currency;
    $("bid-amount").value = revising ? bid.amount.amount : invitation.requested_amount.amount;
    $("bid-fee").value = revising ? bid.origination_fee.amount : "0";
    $("bid-rate").value = revising ? percentOf(bid.annual_rate) : "";
    $("bid-term").value = revising ? bid.term_months : invitation.term_months;
    $("bid-frequency").value = revising ? bid.repayment_frequency : "monthly";
    $("bid-method").value = revising ? bid.schedule_method : "annuity";
    $("bid-conditions").value = revising ? bid.conditions || "" : "";
    $("preview").replaceChildren(el("p", "Type the terms to see the APR and the total cost."));
    $("bid-panel").hidden = false;
    $("bid-rate").focus();
    if (revising) schedule();
  };
  const close = () => {
    target = null;
    clearTimeout(timer);
    $("bid-panel").hidden = true;
  };
  $("bid-cancel").addEventListener("click", close);

  // The exact terms a confirmation names, with the figures the borrower will compare.
  const spelled = (t, p, validUntil) =>
    `${money({ amount: t.bid.amount, currency: t.bid.currency })} at ${percentOf(t.bid.annual_rate)}% a year over ` +
    `${t.bid.term_months} months: ${p.installments} ${FREQUENCY[t.bid.repayment_frequency]} ${words(t.bid.schedule_method)} ` +
    `installments of ${money(p.installment)}, fee ${money({ amount: t.bid.origination_fee, currency: t.bid.currency })}. ` +
    `APR ${p.apr_percent}%, total cost of credit ${money(p.finance_charge)}, total of payments ` +
    `${money(p.total_of_payments)}. Valid until ${time(validUntil)}.`;

  $("bid-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const submit = $("bid-submit");
    busy(submit, async () => {
      const t = terms();
      if (t.error) return caas.status(t.error, true);
      const p = await preview(t); // the figures as of now, for the confirmation
      const validUntil = new Date(Date.now() + t.days * 86400000).toISOString();
      const { invitation, bid } = target;
      const question = bid ? `Revise your bid on ${invitation.reference}?` : `Place this bid on ${invitation.reference}?`;
      if (!(await caas.confirm(question, spelled(t, p, validUntil), bid ? "Yes, revise it" : "Yes, place it"))) return;
      const full = { ...t.bid, valid_until: validUntil, conditions: t.conditions };
      if (bid) {
        const { currency, ...changes } = full;
        void currency;
        await caas.tool("{{TOOL:revise_bid}}", { bid: bid.id, changes });
      } else {
        await caas.tool("{{TOOL:place_bid}}", { application: invitation.application_id, bid: full });
      }
      caas.status(`${bid ? "Bid revised" : "Bid placed"} on ${invitation.reference}.`);
      close();
      await lender.refresh(["invitations", "capital"]);
    });
  });

  // A reason asked for in a labelled field, then confirmed: declining an invitation, withdrawing a bid.
  let onReason = null;
  const ask = (title, label, submitLabel, then) => {
    $("reason-title").textContent = title;
    $("reason-label").textContent = label;
    $("reason-submit").textContent = submitLabel;
    $("reason-text").value = "";
    $("reason-panel").hidden = false;
    $("reason-text").focus();
    onReason = then;
  };
  const closeReason = () => {
    onReason = null;
    $("reason-panel").hidden = true;
  };
  $("reason-cancel").addEventListener("click", closeReason);
  $("reason-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const reason = $("reason-text").value.trim();
    if (reason.length < 3) return caas.status(`${$("reason-label").textContent}: at least 3 characters`, true);
    busy($("reason-submit"), async () => {
      if (onReason && (await onReason(reason))) closeReason();
    });
  });

  const openDecline = (i) =>
    ask(`Decline the invitation to ${i.reference}`, "Reason for declining", "Decline invitation", async (reason) => {
      const detail = `Your provider will not offer credit on ${i.reference} (${money(i.requested_amount)} over ` +
        `${i.term_months} months), for good. Reason: ${reason}`;
      if (!(await caas.confirm(`Decline the invitation to ${i.reference}?`, detail, "Yes, decline it"))) return false;
      await caas.tool("{{TOOL:decline_invitation}}", { application: i.application_id, reason });
      caas.status(`Invitation to ${i.reference} declined.`);
      await lender.refresh(["invitations"]);
      return true;
    });
  const openWithdraw = (b) =>
    ask(`Withdraw your bid on ${b.reference}`, "Reason for withdrawing", "Withdraw bid", async (reason) => {
      const detail = `${money(b.amount)} at ${percentOf(b.annual_rate)}% a year over ${b.term_months} months ` +
        `(version ${b.version}): the borrower can no longer accept it. Reason: ${reason}`;
      if (!(await caas.confirm(`Withdraw your bid on ${b.reference}?`, detail, "Yes, withdraw it"))) return false;
      await caas.tool("{{TOOL:withdraw_bid}}", { bid: b.id, reason });
      caas.status(`Bid on ${b.reference} withdrawn.`);
      await lender.refresh(["bids"]);
      return true;
    });

  const bidRow = (b) => {
    const actions = el("td", null, { class: "actions" });
    if (b.status === "active") {
      const invitation = state.invitations.find((i) => i.application_id === b.application_id);
      if (invitation && invitation.application_status === "open_for_bids") actions.append(button("Revise…", () => open(invitation, b)));
      actions.append(button("Withdraw…", () => openWithdraw(b)));
    }
    const r = el("tr");
    r.append(
      el("th", b.reference, { scope: "row" }),
      cell(words(b.status)),
      cell(b.version, true),
      cell(money(b.amount), true),
      cell(`${percentOf(b.annual_rate)}%`, true),
      cell(`${b.term_months} mo`, true),
      cell(money(b.origination_fee), true),
      cell(time(b.valid_until)),
      actions,
    );
    return r;
  };
  // Its bids on the invitations it answered with one (list_bids is per application), newest first.
  const loadBids = async () => {
    const answered = state.invitations.filter((i) => i.status === "bid_submitted");
    const pages = await Promise.all(
      answered.map((i) => caas.tool("{{TOOL:list_bids}}", { application: i.application_id, limit: 50 })),
    );
    state.bids = pages
      .flatMap((page, n) => page.items.map((b) => ({ ...b, reference: answered[n].reference })))
      .filter((b) => b.status !== "superseded")
      .sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
    fill("bids", "bids-empty", state.bids.map(bidRow));
    lender.renderInvitations(); // "Bid…" again once a bid was withdrawn
  };

  Object.assign(lender, { openBid: (i) => open(i, null), openDecline, loadBids });
})();
