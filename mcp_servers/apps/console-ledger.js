// The ledger reconcile, the platform's revenue per currency for a period, and platform health.
"use strict";
(() => {
  const { el, time } = caas;
  const { $, row, fill, facts } = con;

  $("reconcile").addEventListener("click", async () => {
    const out = $("reconciled");
    out.replaceChildren(el("p", "Reconciling…"));
    try {
      const r = await caas.tool("{{TOOL:reconcile_ledger}}", {});
      const summary = el(
        "p",
        `${r.consistent ? "Consistent" : "NOT consistent"} at ${time(r.checked_at)}: ${r.accounts_checked} accounts, ` +
          `${r.journals_checked} journals and ${r.postings_checked} postings checked; ${r.differences_total} balance differences, ` +
          `${r.unbalanced_journals.length} unbalanced journals.`,
        { class: r.consistent ? "verdict-yes" : "verdict-no" },
      );
      out.replaceChildren(summary);
      if (r.differences.length) {
        const table = el("table");
        const head = el("tr");
        head.append(...["Account", "Stored", "From postings", "Difference"].map((t) => el("th", t, { scope: "col" })));
        const thead = el("thead");
        thead.append(head);
        const body = el("tbody");
        body.append(...r.differences.map((d) => row(d.code, { num: d.cached_minor }, { num: d.computed_minor }, { num: caas.money(d.difference) })));
        table.append(el("caption", "Accounts whose stored balance differs from their postings (minor units)"), thead, body);
        out.append(table);
      }
    } catch (err) {
      out.replaceChildren(el("p", err.message, { role: "alert" }));
    }
  });

  // This month so far, as UTC days (the tool's periods are UTC days).
  const today = new Date().toISOString().slice(0, 10);
  $("rev-from").value = today.slice(0, 8) + "01";
  $("rev-to").value = today;
  const revenue = async () => {
    const typed = $("rev-currency").value.trim().toUpperCase();
    const wanted = typed ? [typed] : con.currencies();
    const empty = $("revenue-empty");
    if (wanted.length === 0) {
      empty.textContent = "No lender yet, so no currency to show: type one.";
      empty.hidden = false;
      $("revenue").hidden = true;
      return;
    }
    const period = { period_start: $("rev-from").value, period_end: $("rev-to").value };
    const results = await Promise.all(
      wanted.map((currency) =>
        caas.tool("{{TOOL:get_platform_revenue}}", { currency, ...period }).catch((err) => ({ currency, error: err.message })),
      ),
    );
    fill(
      "revenue",
      results.map((r) =>
        r.error
          ? row(r.currency, r.error, null, null, null, null)
          : row(r.currency, { num: caas.money(r.commission) }, { num: caas.money(r.fee_income) }, { num: caas.money(r.commission_reversals) }, { num: caas.money(r.total) }, { num: r.journals }),
      ),
    );
    empty.hidden = true;
  };
  $("revenue-form").addEventListener("submit", (event) => {
    event.preventDefault();
    revenue().catch(con.report);
  });

  const health = async () => {
    const h = await caas.tool("{{TOOL:platform_health}}", {});
    const deps = Object.entries(h.dependencies).map(([name, d]) => `${name} ${d.status}${d.pending && d.pending.length ? " (pending migrations: " + d.pending.join(", ") + ")" : ""}`);
    const lag = Object.entries(h.queue_lag_s).map(([q, s]) => `${q} ${s} s`);
    const failed = Object.entries(h.failed_jobs).filter(([, n]) => n > 0).map(([q, n]) => `${q}: ${n}`);
    facts($("health"), [
      ["Ready", h.ready ? "yes" : "no"],
      ["Version", h.version],
      ["Up for", `${Math.round(h.uptime_s)} s`],
      ["Database", h.database],
      ["Dependencies", deps.join("; ")],
      ["Payments", `${h.gateway}${h.simulated ? " (simulated: no real money moves)" : ""}`],
      ["Queue lag", lag.join("; ") || "none"],
      ["Jobs failed for good", failed.join("; ") || "none"],
      ["Paused payment vendors", h.open_breakers.join(", ") || "none"],
    ]);
    $("attention").replaceChildren(...(h.attention.length ? h.attention : ["Nothing needs a person."]).map((a) => el("li", a)));
  };
  $("health-check").addEventListener("click", () => health().catch(con.report));

  con.loaders.health = health;
  con.revenue = revenue;
})();
