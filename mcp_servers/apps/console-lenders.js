// Lenders: the list with suspend (a reason, confirmed first) and reactivate, and the onboarding form,
// whose webhook signing secret is shown once.
"use strict";
(() => {
  const { percent } = caas;
  const { $, row, cell, button, fill, tell } = con;
  let currencies = [];

  const suspend = async (lender) => {
    const reason = await pendingActions.ask({
      title: `Suspend ${lender.name}?`,
      detail: "From now on it is matched to no application and invited to no bid, until reactivated. Its live bids and loans stay.",
      yes: "Yes, suspend it",
      reasonLabel: "Why you suspend it (kept with the lender)",
    });
    if (reason === null) return;
    await con.act(
      "lenders-outcome",
      () => caas.tool("{{TOOL:suspend_provider}}", { provider: lender.id, reason }),
      (p) => `${p.name} is ${p.status}: ${p.suspended_reason}`,
    );
    con.reload("lenders");
  };

  const reactivate = async (lender) => {
    if (!(await caas.confirm(`Reactivate ${lender.name}?`, "It is matched to applications and invited to bid again.", "Yes, reactivate it"))) return;
    await con.act(
      "lenders-outcome",
      () => caas.tool("{{TOOL:reactivate_provider}}", { provider: lender.id }),
      (p) => `${p.name} is ${p.status} again.`,
    );
    con.reload("lenders");
  };

  const loadLenders = async () => {
    const page = await caas.tool("{{TOOL:list_providers}}", { limit: 100 });
    currencies = [...new Set(page.items.map((p) => p.currency))].sort();
    fill(
      "lenders",
      page.items.map((p) => {
        const lends = `${p.currency} in ${p.countries.join(", ")}: ${con.money(p.min_amount)} to ${con.money(p.max_amount)}, ` +
          `${p.min_term_months} to ${p.max_term_months} months, ${percent(Number(p.min_annual_rate))} to ${percent(Number(p.max_annual_rate))} a year, grades ${p.accepted_grades.join(" ")}`;
        const state = p.status + (p.suspended_reason ? `: ${p.suspended_reason}` : "");
        const change = p.status === "active" ? button("Suspend…", () => suspend(p)) : button("Reactivate", () => reactivate(p));
        return row(p.name, p.provider_type.replaceAll("_", " "), lends, { num: con.money(p.capital_available) }, state, cell(change));
      }),
      "lenders-empty",
    );
  };

  const list = (id) => $(id).value.split(",").map((s) => s.trim().toUpperCase()).filter(Boolean);
  $("onboard-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = (id) => $(id).value.trim();
    const provider = {
      name: value("ob-name"),
      provider_type: value("ob-type"),
      currency: value("ob-currency").toUpperCase(),
      countries: list("ob-countries"),
      min_amount: value("ob-min-amount"),
      max_amount: value("ob-max-amount"),
      capital_available: value("ob-capital"),
      min_term_months: Number(value("ob-min-term")),
      max_term_months: Number(value("ob-max-term")),
      accepted_grades: list("ob-grades"),
      min_score: Number(value("ob-min-score")),
      max_dti: value("ob-max-dti"),
      min_annual_rate: value("ob-min-rate"),
      max_annual_rate: value("ob-max-rate"),
      webhook_url: value("ob-webhook"),
    };
    const done = await con.act("onboard-outcome", () => caas.tool("{{TOOL:onboard_provider}}", { provider }), (d) =>
      `${d.provider.name} is onboarded and active. Its webhook signing secret, shown only now (give it to the lender): ${d.webhook_secret}`,
    );
    if (done) {
      $("onboard-form").reset();
      tell("lenders-outcome", "");
      con.reload("lenders");
    }
  });

  con.loaders.lenders = loadLenders;
  con.currencies = () => currencies;
})();
