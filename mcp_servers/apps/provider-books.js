// Provider dashboard: its loans (schedule, arrears, DPD bucket), capital, commission statement and the
// webhook deliveries sent to it (a failed one queued again, confirmed).
"use strict";
(() => {
  const { $, el, money, time, words, state, busy, cell, button, fill } = lender;
  const dl = (node, pairs) => node.replaceChildren(...pairs.flatMap(([k, v]) => [el("dt", k), el("dd", v)]));

  const showLoan = (summary, b) =>
    busy(b, async () => {
      const [loan, schedule] = await Promise.all([
        caas.tool("{{TOOL:get_loan}}", { loan: summary.id }),
        caas.tool("{{TOOL:get_repayment_schedule}}", { loan: summary.id }),
      ]);
      $("loan-title").textContent = `Loan on ${loan.application_reference}`;
      dl($("loan-summary"), [
        ["Status", words(loan.status)],
        ["Principal", money(loan.principal)],
        ["APR", `${loan.disclosure.apr_percent}%`],
        ["Still owed", money(loan.outstanding.total)],
        ["In arrears", money(loan.overdue)],
        ["Days past due", String(loan.days_past_due)],
        ["DPD bucket", loan.aging_bucket],
        ["Next due", loan.next_due ? `${caas.day(loan.next_due.due_date)}: ${money(loan.next_due.amount)}` : "—"],
        ["Matures", caas.day(loan.maturity_date)],
      ]);
      const rows = schedule.lines.map((l) => {
        const r = el("tr");
        r.append(
          el("th", l.number, { scope: "row", class: "num" }),
          cell(caas.day(l.due_date)),
          cell(words(l.status)),
          cell(money(l.total), true),
          cell(money(l.principal), true),
          cell(money(l.interest), true),
          cell(money(l.late_fee), true),
          cell(money(l.outstanding.total), true),
        );
        return r;
      });
      $("schedule").querySelector("tbody").replaceChildren(...rows);
      $("loan-detail").hidden = false;
      caas.resized();
    });
  const loadLoans = async () => {
    const page = await caas.tool("{{TOOL:list_loans}}", { limit: 50 });
    const rows = page.items.map((l) => {
      const r = el("tr");
      r.append(
        el("th", l.application_reference, { scope: "row" }),
        cell(words(l.status)),
        cell(money(l.principal), true),
        cell(money(l.outstanding), true),
        cell(l.next_due ? `${caas.day(l.next_due.due_date)}: ${money(l.next_due.amount)}` : "—"),
        cell(l.days_past_due, true),
        el("td", null, { class: "actions" }),
      );
      r.lastChild.append(button("Schedule…", (b) => showLoan(l, b)));
      return r;
    });
    fill("loans", "loans-empty", rows);
  };

  // Its own id comes with its capital; the commission statement needs it (read once, shared).
  const loadCapital = () => (state.capital = readCapital());
  const readCapital = async () => {
    const c = await caas.tool("{{TOOL:get_provider_capital}}", {});
    state.providerId = c.provider_id;
    dl($("capital"), [
      ["Available", money(c.available)],
      ["Reserved", money(c.reserved)],
      ["Lent", money(c.lent)],
      ["Total", money(c.total)],
      ["Loans still owing principal", String(c.loans_outstanding)],
    ]);
  };

  // This month so far (UTC days), unless the lender chose a period.
  const today = new Date().toISOString().slice(0, 10);
  $("commission-from").value = today.slice(0, 8) + "01";
  $("commission-to").value = today;
  const loadCommission = async () => {
    if (!state.providerId) await (state.capital || loadCapital());
    const s = await caas.tool("{{TOOL:get_commission_statement}}", {
      provider: state.providerId,
      period_start: $("commission-from").value,
      period_end: $("commission-to").value,
    });
    dl($("commission-totals"), [
      ["At disbursement", money(s.at_disbursement)],
      ["Share of interest", money(s.interest_share)],
      ["Reversals", money(s.reversals)],
      ["Total owed", money(s.total)],
    ]);
    const rows = s.lines.map((l) => {
      const r = el("tr");
      r.append(el("th", time(l.posted_at), { scope: "row" }), cell(words(l.kind)), cell(l.loan_id), cell(money(l.amount), true));
      return r;
    });
    fill("commission-lines", null, rows);
  };
  $("commission-form").addEventListener("submit", (event) => {
    event.preventDefault();
    busy(event.submitter, loadCommission);
  });

  const retry = (d, b) =>
    busy(b, async () => {
      const detail = `The ${d.event_type} event (${d.event_id}) is sent again to your endpoint, with the same id ` +
        `and body and a fresh set of attempts. It is ${d.status} after ${d.attempts} attempt(s).`;
      if (!(await caas.confirm("Send this webhook again?", detail, "Yes, send it again"))) return;
      await caas.tool("{{TOOL:retry_webhook_delivery}}", { delivery: d.event_id });
      caas.status(`The ${d.event_type} webhook is queued again.`);
      await loadDeliveries();
    });
  const loadDeliveries = async () => {
    const page = await caas.tool("{{TOOL:list_webhook_deliveries}}", { limit: 50 });
    const rows = page.items.map((d) => {
      const r = el("tr");
      const actions = el("td", null, { class: "actions" });
      if (d.status === "failed" || d.status === "skipped") actions.append(button("Retry…", (b) => retry(d, b)));
      r.append(
        el("th", d.event_type, { scope: "row" }),
        cell(words(d.status)),
        cell(d.attempts, true),
        cell(d.last_status_code, true),
        cell(d.last_error),
        cell(time(d.queued_at)),
        actions,
      );
      return r;
    });
    fill("deliveries", "deliveries-empty", rows);
  };

  Object.assign(lender, { loadLoans, loadCapital, loadCommission, loadDeliveries });
})();
