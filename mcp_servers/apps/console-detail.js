// The review queue, the offers awaiting a final approval, and one application side by side: the
// application, its documents (verify or reject each), its score and reasons, its timeline and who made
// each step (maker-checker).
"use strict";
const detail = (() => {
  const { el, time, percent } = caas;
  const { $, row, cell, button, fill, facts, tell } = con;
  let selected = null; // the open application's handle (id or reference), or null
  let shown = { id: null, reference: null };
  let cursor = null;

  const reasonsList = (reasons) => {
    const ul = el("ul");
    ul.append(...reasons.map((r) => el("li", `${r.message} (${r.code}, −${r.points_lost})`)));
    return ul;
  };
  const opener = (handle) => button("Open", () => open(handle));

  const showQueue = (queue) => {
    fill(
      "queue",
      queue.items.map((item) =>
        row(item.reference, time(item.referred_at), { num: item.score ?? "—" }, item.grade, cell(reasonsList(item.reasons)), cell(opener(item.id))),
      ),
      "queue-empty",
    );
    cursor = queue.next_cursor;
    $("queue-next").hidden = !cursor;
  };
  const loadQueue = async () => showQueue(await caas.tool("{{TOOL:list_review_queue}}", { limit: 100 }));
  $("queue-next").addEventListener("click", async () => {
    try {
      showQueue(await caas.tool("{{TOOL:list_review_queue}}", { limit: 100, cursor }));
    } catch (err) {
      con.report(err);
    }
  });

  const loadApprovals = async () => {
    const page = await caas.tool("{{TOOL:list_applications}}", { status: ["offer_accepted"], limit: 50 });
    fill(
      "approvals",
      page.items.map((a) =>
        row(a.reference, { num: con.money(a.requested_amount) }, a.term_months ? a.term_months + " months" : null, time(a.status_changed_at), cell(opener(a.id))),
      ),
      "approvals-empty",
    );
  };

  $("find-form").addEventListener("submit", (event) => {
    event.preventDefault();
    open($("find-ref").value.trim());
  });

  const showFacts = (app) => {
    const who = app.applicant || {};
    const job = app.employment;
    facts($("facts"), [
      ["Status", app.status.replaceAll("_", " ")],
      ["Amount", con.money(app.requested_amount)],
      ["Term", app.term_months ? app.term_months + " months" : null],
      ["Purpose", [app.purpose, app.purpose_detail].filter(Boolean).join(": ")],
      ["Applicant", who.full_name],
      ["Country", who.country],
      ["Age", who.age_years],
      ["Monthly income", con.money(app.monthly_income)],
      ["Monthly obligations", con.money(app.monthly_obligations)],
      ["Employment", job ? `${job.status.replaceAll("_", " ")}${job.employer_name ? " at " + job.employer_name : ""}, ${job.months_in_employment} months` : null],
      ["Borrower", app.borrower_id],
      ["Filed by", app.created_by],
      ["Submitted", time(app.submitted_at)],
    ]);
  };

  const showScore = (risk) => {
    if (!risk) {
      $("score").textContent = "Not scored yet.";
      $("reasons").replaceChildren();
      return;
    }
    $("score").textContent =
      `Score ${risk.score}, grade ${risk.grade}: ${risk.recommendation}. Probability of default ${percent(Number(risk.pd))}, ` +
      `debt-to-income after the loan ${percent(Number(risk.dti_after))} (${risk.stage}, ${time(risk.assessed_at)}).`;
    $("reasons").replaceChildren(...risk.reasons.map((r) => el("li", `${r.message} (${r.code}, −${r.points_lost} points)`)));
  };

  const verify = async (doc, decision) => {
    const args = { document: doc.id, decision };
    if (decision === "rejected") {
      const reason = await pendingActions.ask({
        title: `Reject ${doc.file_name}?`,
        detail: `The borrower is told why and must upload another ${doc.document_type.replaceAll("_", " ")}.`,
        yes: "Yes, reject it",
        reasonLabel: "Why you reject it (the borrower reads it)",
      });
      if (reason === null) return;
      args.reason = reason;
    }
    const done = await con.act("detail-outcome", () => caas.tool("{{TOOL:verify_document}}", args), (d) => `${d.file_name}: ${d.status}.`);
    if (done) await refresh();
  };
  const showDocuments = (list) => {
    const kyc = list.kyc;
    $("kyc").textContent = `Identity ${kyc.identity_verified ? "verified" : "not verified"}; income ${kyc.income_verified ? "verified" : "not verified"}.`;
    fill(
      "docs",
      list.documents.map((doc) => {
        const actions = cell();
        if (doc.status === "pending") {
          actions.append(button("Verify", () => verify(doc, "verified")), " ", button("Reject", () => verify(doc, "rejected")));
        }
        const state = doc.status + (doc.decided_by ? ` by ${doc.decided_by}` : "") + (doc.decision_reason ? `: ${doc.decision_reason}` : "");
        return row(doc.document_type.replaceAll("_", " "), `${doc.file_name} (${doc.media_type}, ${doc.size_bytes} bytes, sha256 ${doc.sha256_prefix}…)`, time(doc.registered_at), state, actions);
      }),
      "docs-empty",
    );
  };

  const showTimeline = (timeline) => {
    $("timeline").replaceChildren(
      ...timeline.entries.map((e) =>
        el("li", `${time(e.occurred_at)}: ${e.from_status ? e.from_status.replaceAll("_", " ") + " → " : ""}${e.to_status.replaceAll("_", " ")}, by ${e.actor_role} ${e.actor_id}. ${e.reason}`),
      ),
    );
  };

  // Reads the application and everything beside it again (after a decision, or a live event about it).
  const refresh = async () => {
    if (!selected) return;
    const handle = { application: selected };
    const [app, docs, risk, timeline] = await Promise.all([
      caas.tool("{{TOOL:get_application}}", handle),
      caas.tool("{{TOOL:list_documents}}", handle),
      caas.tool("{{TOOL:get_risk_assessment}}", handle).catch((err) => {
        if (err.code === "not_found") return null;
        throw err;
      }),
      caas.tool("{{TOOL:get_application_timeline}}", handle),
    ]);
    $("detail-title").textContent = `Application ${app.reference}`;
    shown = { id: app.id, reference: app.reference };
    showFacts(app);
    showDocuments(docs);
    showScore(risk);
    showTimeline(timeline);
    decide.show(timeline, app);
    $("detail").hidden = false;
    caas.resized();
  };

  const open = async (handle) => {
    if (!handle) return;
    selected = handle;
    tell("detail-outcome", "");
    $("review-comment").value = "";
    try {
      await refresh();
      $("detail-title").focus?.();
      $("detail").scrollIntoView({ block: "start" });
    } catch (err) {
      con.report(err);
    }
  };
  $("detail-title").setAttribute("tabindex", "-1");

  con.loaders.queue = loadQueue;
  con.loaders.approvals = loadApprovals;
  con.loaders.detail = refresh;
  // A live event names the application by id (bid events by theirs, with the application's reference).
  const concerns = (event) => Boolean(selected) && (event.id === shown.id || event.reference === shown.reference);
  return { open, refresh, showQueue, concerns, shown: () => shown };
})();
