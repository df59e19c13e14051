// Boot: in a browser every section loads and live events re-read what changed (no reload); in an MCP
// host the page renders the application the host passed (get_application's result) and Refresh reads
// everything again.
"use strict";
caas.boot(async ({ mode, input, result }) => {
  const { $, state, section, soon } = B;
  state.mode = mode;
  const everything = async () => {
    caas.status("");
    if (mode === "app" && state.app) await section.application();
    await Promise.all([section.applications(), section.loans(), section.inbox(), section.support()]);
  };
  $("refresh").addEventListener("click", async () => {
    $("refresh").disabled = true;
    try {
      await everything();
    } catch (err) {
      caas.report(err);
    } finally {
      $("refresh").disabled = false;
    }
  });
  if (mode === "app") {
    $("apps").hidden = true;
    const given = result && !result.isError ? result.structuredContent : null;
    if (result && result.isError) caas.status((result.content || []).map((c) => c.text || "").join(" "), true);
    if (given) B.showApp(given);
    else if (input && input.application) state.app = { id: input.application }; // read on the first load
  }
  $("content").hidden = false;
  await everything();
  caas.resized();
  // Which sections an event touches: its entity says what changed; the tools say what it is now.
  const touches = {
    application: ["applications"],
    bid: ["offers"],
    loan: ["loans"],
    payment: ["payments"],
    notification: ["inbox", "support"],
  };
  caas.live(
    (event) => {
      for (const name of touches[event.entity] || []) soon(name);
    },
    (s) => {
      $("live-state").textContent = s === "live" ? "Live" : "Reconnecting…";
    },
  );
});
