// The loan: its terms and schedule, a Pay button per installment still owing (confirmed with the exact
// amount; the gateway's authorization URL is where the borrower pays), and the loan's payments, which
// live events keep up to date.
"use strict";
(() => {
  const { el, money, time, day } = caas;
  const { $, state, words, button, terms, section } = B;
  const SERVICING = new Set(["active", "delinquent"]);
  let loans = [];

  const payLink = (charge, line) => {
    const box = $("pay-link");
    box.replaceChildren();
    if (!charge.authorization_url) {
      box.textContent = "Payment " + charge.reference + " is " + words(charge.status) + ": " + charge.next_step;
      return;
    }
    const link = el("a", "Pay " + money(charge.amount) + " for installment " + line.number + " at the payment gateway", {
      href: charge.authorization_url,
      target: "_blank",
      rel: "noopener noreferrer",
    });
    box.append(link, el("span", " (opens in a new tab; this page shows the payment's status as it changes)"));
    link.focus();
  };

  const pay = async (schedule, line) => {
    const amount = line.outstanding.total;
    const ok = await caas.confirm(
      "Pay installment " + line.number + "?",
      money(amount) + " towards installment " + line.number + " (due " + day(line.due_date) + ") of loan " + state.loan.application_reference + ".",
      "Yes, pay it",
    );
    if (!ok) return;
    const charge = await caas.tool("{{TOOL:collect_repayment}}", {
      loan: schedule.loan_id,
      amount: amount.amount,
      idempotency_key: B.key("pay"),
    });
    payLink(charge, line);
    await payments();
  };

  const schedule = async () => {
    const s = await caas.tool("{{TOOL:get_repayment_schedule}}", { loan: state.loan.id });
    terms($("loan-terms"), [
      ["Application", state.loan.application_reference],
      ["Lender", state.loan.provider_name],
      ["Status", words(s.status)],
      ["Principal", money(s.principal)],
      ["APR", s.apr_percent + "%"],
      ["Paid to date", money(s.paid_to_date.total)],
      ["Outstanding", money(s.outstanding.total)],
      ["Maturity", day(s.maturity_date)],
    ]);
    B.cancellable(s.status); // borrower-cancel.js: the way out while nothing was lent
    $("loan-lines").querySelector("tbody").replaceChildren(
      ...s.lines.map((l) => {
        const row = el("tr");
        const action = el("td");
        if (SERVICING.has(s.status) && Number(l.outstanding.total.amount) > 0) {
          action.append(button("Pay installment " + l.number + "…", () => pay(s, l)));
        }
        row.append(
          el("th", l.number, { scope: "row", class: "num" }),
          el("td", day(l.due_date)),
          el("td", words(l.status)),
          el("td", money(l.total), { class: "num" }),
          el("td", money(l.paid.total), { class: "num" }),
          el("td", money(l.outstanding.total), { class: "num" }),
          action,
        );
        return row;
      }),
    );
  };

  const payments = async () => {
    const page = await caas.tool("{{TOOL:list_payments}}", { loan: state.loan.id, limit: 20 });
    $("payments").querySelector("tbody").replaceChildren(
      ...page.items.map((p) => {
        const row = el("tr");
        row.append(
          el("th", words(p.kind), { scope: "row" }),
          el("td", money(p.amount), { class: "num" }),
          el("td", words(p.status), { "data-payment": p.id }),
          el("td", time(p.created_at)),
        );
        return row;
      }),
    );
    $("payments").hidden = page.items.length === 0;
  };

  const loan = async () => {
    if (!state.loan) return;
    await Promise.all([schedule(), payments()]);
  };

  $("loan-pick").addEventListener("change", () => {
    state.loan = loans.find((l) => l.id === $("loan-pick").value) || null;
    $("pay-link").replaceChildren();
    B.forgetCancelOutcome();
    loan().catch(caas.report);
  });

  section.loans = async () => {
    const page = await caas.tool("{{TOOL:list_loans}}", { limit: 20 });
    loans = page.items;
    $("loan-section").hidden = loans.length === 0;
    if (!loans.length) return;
    $("loan-pick").replaceChildren(
      ...loans.map((l) => el("option", l.application_reference + " · " + money(l.principal) + " · " + words(l.status), { value: l.id })),
    );
    state.loan = loans.find((l) => state.loan && l.id === state.loan.id) || loans[0];
    $("loan-pick").value = state.loan.id;
    await loan();
  };
  section.payments = () => (state.loan ? loan() : section.loans());
})();
