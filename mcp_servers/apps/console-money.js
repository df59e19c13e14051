// Money moves awaiting a person (confirm / refuse, each asked first with its exact summary), failed
// payouts (retry) and failed webhook deliveries to lenders (retry).
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

  // A failed payout stays failed; once a newer payout of the same loan exists, the row says so instead
  // of offering another retry.
  const loadPayouts = async () => {
    const [failed, others] = await Promise.all([
      caas.tool("{{TOOL:list_payments}}", { kind: "disbursement", status: ["failed"], limit: 50 }),
      caas.tool("{{TOOL:list_payments}}", { kind: "disbursement", status: ["requested", "sent", "succeeded"], limit: 100 }),
    ]);
    const newer = (p) => others.items.find((o) => o.loan_id === p.loan_id && o.created_at > p.created_at);
    fill(
      "payouts",
      failed.items.map((p) => {
        const next = newer(p);
        const action = next ? cell(`Retried: ${next.reference} is ${next.status}`) : cell(button("Retry payout", () => retryPayout(p)));
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
