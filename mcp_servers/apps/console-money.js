// Money moves awaiting a person (confirm / refuse, each asked first with its exact summary), failed
// payouts (retry, or cancel the loan) and failed webhook deliveries to lenders (retry).
"use strict";
(() => {
  const { time } = caas;
  const { $, row, cell, button, fill } = con;

  const loadMoney = async () => {
    const list = await caas.tool("{{TOOL:list_pending_actions}}", { limit: 50 });
    pendingActions.rows($("money").tBodies[0], list.items, (outcome) => {
      if (!outcome) return;
      pendingActions.tell($("money-outcome"), outcome);
      con.reload("money", "payouts", "approvals", "detail");
    });
    $("money").hidden = list.items.length === 0;
    $("money-empty").hidden = list.items.length !== 0;
  };

  // A payout is money moving: asked first with its exact amount. Over HTTP the tool may answer that a
  // second person must confirm it (confirmation_required): then it waits among the money moves above.
  const retryPayout = async (payment) => {
    const amount = con.money(payment.amount);
    const yes = await caas.confirm(
      `Pay loan ${payment.loan_id} out again?`,
      `A new payout of ${amount} replaces failed payment ${payment.reference}.`,
      "Yes, pay it out again",
    );
    if (!yes) return;
    await con.act(
      "payouts-outcome",
      () => caas.tool("{{TOOL:retry_disbursement}}", { payment: payment.id, idempotency_key: con.key() }),
      (p) => `A new payout of ${con.money(p.amount)} is ${p.status}: ${p.next_step}`,
    );
    con.reload("payouts", "money");
  };

  // A loan that will not be paid out after all: cancelled with a reason, its lender's capital released.
  const cancelLoan = async (payment) => {
    const reason = await pendingActions.ask({
      title: `Cancel loan ${payment.loan_id}?`,
      detail: "It will never be paid out: the application is withdrawn and the lender's reserved capital is released.",
      yes: "Yes, cancel the loan",
      reasonLabel: "Why it will not be paid out (at least 10 characters; kept in its timeline)",
    });
    if (reason === null) return;
    await con.act(
      "payouts-outcome",
      () => caas.tool("{{TOOL:cancel_loan}}", { loan: payment.loan_id, reason }),
      (loan) => `Loan ${loan.id} is ${loan.status}; its lender's reserved capital is released.`,
    );
    con.reload("payouts");
  };

  // A failed payout stays failed; once a newer payout of the same loan exists, or the loan was
  // cancelled, the row says so instead of offering another retry.
  const loadPayouts = async () => {
    const [failed, others, cancelled] = await Promise.all([
      caas.tool("{{TOOL:list_payments}}", { kind: "disbursement", status: ["failed"], limit: 50 }),
      caas.tool("{{TOOL:list_payments}}", { kind: "disbursement", status: ["requested", "sent", "succeeded"], limit: 100 }),
      caas.tool("{{TOOL:list_loans}}", { status: ["cancelled"], limit: 100 }),
    ]);
    const newer = (p) => others.items.find((o) => o.loan_id === p.loan_id && o.created_at > p.created_at);
    const ended = new Set(cancelled.items.map((l) => l.id));
    const actions = (p) =>
      cell(button("Retry payout", () => retryPayout(p)), " ", button("Cancel loan…", () => cancelLoan(p)));
    fill(
      "payouts",
      failed.items.map((p) => {
        const next = newer(p);
        const action = next
          ? cell(`Retried: ${next.reference} is ${next.status}`)
          : ended.has(p.loan_id) ? cell("Loan cancelled") : actions(p);
        return row(p.reference, p.loan_id, { num: con.money(p.amount) }, { num: p.attempts }, p.last_error, time(p.updated_at), action);
      }),
      "payouts-empty",
    );
  };

  const retryDelivery = async (d) => {
    await con.act(
      "payouts-outcome",
      () => caas.tool("{{TOOL:retry_webhook_delivery}}", { delivery: d.event_id }),
      (r) => `${r.event_type} to lender ${r.provider_id} is queued again (${r.status}).`,
    );
    con.reload("payouts");
  };

  const loadDeliveries = async () => {
    const page = await caas.tool("{{TOOL:list_webhook_deliveries}}", { status: ["failed"], limit: 50 });
    fill(
      "deliveries",
      page.items.map((d) => {
        const answer = [d.last_status_code ? "HTTP " + d.last_status_code : null, d.last_error].filter(Boolean).join(": ");
        return row(d.event_type, d.provider_id, { num: d.attempts }, answer || null, time(d.failed_at), cell(button("Retry delivery", () => retryDelivery(d))));
      }),
      "deliveries-empty",
    );
  };

  con.loaders.money = loadMoney;
  con.loaders.payouts = () => Promise.all([loadPayouts(), loadDeliveries()]);
})();
