// Review, decide and approve, with maker-checker visible: who made each step of the open application
// (so may not approve it), whether the signed-in operator may, and the decisions it is open to. The page
// never hides the button from a maker: the server decides, and its refusal is shown as it words it.
"use strict";
const decide = (() => {
  const { time } = caas;
  const { $, fill, tell } = con;
  const words = (status) => status.replaceAll("_", " ");
  let app = null;

  const verdict = (text, yes) => {
    const p = $("mc-verdict");
    p.textContent = text;
    p.className = yes ? "verdict-yes" : "verdict-no";
  };

  const showMakers = (timeline) => {
    const mc = timeline.maker_checker;
    if (!mc) {
      fill("makers", []);
      verdict("Maker-checker is shown to operators and admins.", false);
      return;
    }
    fill("makers", mc.makers.map((m) => con.row(m.subject, m.step, time(m.at))));
    const mine = mc.you_made ? `You ${mc.you_made} it, so you may not give it the final approval; another operator or admin must.` : "";
    if (timeline.status === "offer_accepted") {
      verdict(mc.you_may_approve ? "You may give the final approval: you made none of its steps." : `You may not approve it. ${mine}`, mc.you_may_approve);
    } else if (timeline.status === "under_review") {
      verdict(`It is under review: its review decision comes first, the final approval once the borrower accepts an offer. ${mine}`.trim(), !mc.you_made);
    } else {
      verdict(`Nothing to approve now: it is ${words(timeline.status)}. ${mine}`.trim(), false);
    }
  };

  const show = (timeline, application) => {
    app = application;
    showMakers(timeline);
    const reviewing = timeline.status === "under_review";
    const approving = timeline.status === "offer_accepted";
    $("review-actions").hidden = !reviewing;
    $("final-actions").hidden = !approving;
    $("decide-form").hidden = !(reviewing || approving);
    $("decide-none").hidden = reviewing || approving;
    $("decide-none").textContent = `No decision is open: it is ${words(timeline.status)}.`;
  };

  // The mandatory comment, or null (and the reason, next to the form) when it is too short.
  const comment = () => {
    const text = $("review-comment").value.trim();
    if (text.length >= 10) return text;
    tell("detail-outcome", "Write a review comment first: at least 10 characters, in words the borrower may read.", true);
    $("review-comment").focus();
    return null;
  };

  const after = async () => {
    con.reload("queue", "approvals", "money");
    await detail.refresh();
  };

  const review = async (decision, question, consequence, yes) => {
    const why = comment();
    if (!why || !app) return;
    if (!(await caas.confirm(question, `${consequence} Your comment: “${why}”`, yes))) return;
    const done = await con.act(
      "detail-outcome",
      () => caas.tool("{{TOOL:review_application}}", { application: app.id, decision, comment: why }),
      (r) => `${r.reference} is now ${words(r.status)}.`,
    );
    if (done) $("review-comment").value = "";
    await after();
  };

  $("do-approve").addEventListener("click", () =>
    review("open_for_bids", `Approve ${app.reference} for bids?`, "It opens for the lenders' bids.", "Yes, approve it"),
  );
  $("do-decline").addEventListener("click", () =>
    review("decline", `Decline ${app.reference}?`, "The borrower receives an adverse-action notice whose first reason is your comment.", "Yes, decline it"),
  );
  $("do-info").addEventListener("click", () =>
    review("request_information", `Send ${app.reference} back for more information?`, "It returns to draft for the borrower to change and submit again.", "Yes, ask for information"),
  );

  $("do-final").addEventListener("click", async () => {
    const why = comment();
    if (!why || !app) return;
    const terms = `${con.money(app.requested_amount)} over ${app.term_months} months.`;
    const question = `Give ${app.reference} its final approval?`;
    const consequence = `${terms} Approval re-checks the documents and the policy at the accepted terms; a failed re-check declines it.`;
    if (!(await caas.confirm(question, `${consequence} Your comment: “${why}”`, "Yes, approve it"))) return;
    const done = await con.act(
      "detail-outcome",
      () => caas.tool("{{TOOL:approve_application}}", { application: app.id, comment: why }),
      (r) =>
        r.approved
          ? `${r.reference} is approved.`
          : `${r.reference} failed the policy re-check and is ${words(r.status)}: ${r.reasons.map((x) => x.message).join("; ")}`,
    );
    if (done) $("review-comment").value = "";
    await after();
  });

  return { show };
})();
