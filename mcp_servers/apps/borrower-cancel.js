// The borrower's way out before the money leaves: a loan pending disbursement (approved, not paid out, so
// nothing was lent) may be cancelled by its borrower, as withdrawn and with a reason (cancel_loan, in the
// "service" toolset the page names in its caas-toolsets meta). The server decides: a payout in flight
// is a conflict, shown in the server's own words.
"use strict";
(() => {
  const { money } = caas;
  const { $, state, words, section } = B;
  const dialog = $("cancel-loan");
  let loan = null; // the loan the open dialog speaks of

  // The outcome, said in words (never by colour alone) and focused: the button may be gone after it.
  const tell = (text, refused) => {
    const node = $("loan-outcome");
    node.textContent = text;
    if (refused) node.setAttribute("role", "alert");
    else node.removeAttribute("role");
    node.focus();
  };

  // borrower-loan.js calls this with the status it just read: only a loan never paid out is cancelled.
  B.cancellable = (status) => {
    $("cancel-loan-open").hidden = status !== "pending_disbursement";
  };
  B.forgetCancelOutcome = () => {
    $("loan-outcome").textContent = "";
    $("loan-outcome").removeAttribute("role");
  };

  $("cancel-loan-open").addEventListener("click", () => {
    loan = state.loan;
    if (!loan) return;
    const ref = loan.application_reference;
    $("cancel-loan-what").textContent =
      "Your loan of " + money(loan.principal) + " from " + loan.provider_name + " is cancelled before any payout: " +
      "nothing was lent, so you will owe nothing. The offer's capital goes back to the lender and your application " +
      ref + " ends withdrawn. This cannot be undone.";
    $("cancel-loan-reason").value = "";
    dialog.showModal();
    $("cancel-loan-reason").focus();
  });
  $("cancel-loan-keep").addEventListener("click", () => dialog.close());

  const reload = async () => {
    await section.loans();
    await (state.mode === "app" ? section.application() : section.applications());
  };

  $("cancel-loan-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = $("cancel-loan-reason").value.trim();
    dialog.close();
    $("cancel-loan-open").disabled = true;
    try {
      const args = { loan: loan.id, reason, application_ends: "withdrawn" };
      const done = await caas.tool("{{TOOL:cancel_loan}}", args);
      const app = await caas.tool("{{TOOL:get_application}}", { application: done.application_id });
      tell(
        "Cancelled: your loan for " + done.application_reference + " is " + words(done.status) + " and application " +
          app.reference + " is " + words(app.status) + ". Nothing was lent and you owe nothing; the offer's capital went back to the lender.",
        false,
      );
    } catch (err) {
      if (!("code" in err)) return caas.report(err); // not the tool's answer (a lapsed sign-in, the network)
      tell("Not cancelled: " + err.message, true); // the server's refusal, as it worded it
    } finally {
      $("cancel-loan-open").disabled = false;
    }
    await reload().catch(caas.report);
  });
})();
