// Starts the console: every section loads as the signed-in principal; in a browser live events re-read
// what changed (the queue, the open application, money moves, payouts, lenders) without a reload. In an
// MCP host it first shows the review queue the host passed (list_review_queue's result), with Refresh.
"use strict";
(() => {
  const { $ } = con;
  const refreshAll = () => con.loadAll().then(() => con.revenue()).catch(con.report);
  $("refresh-all").addEventListener("click", refreshAll);
  const onEvent = (event) => {
    const entity = event.entity;
    if (entity === "application" || entity === "bid") con.reload("queue", "approvals", "money");
    if (entity === "payment" || entity === "loan") con.reload("payouts", "money");
    if (entity === "provider") con.reload("lenders", "payouts");
    if (entity === "pending_action") con.reload("money");
    if (detail.concerns(event)) con.reload("detail");
  };
  const onState = (s) => {
    $("live-state").textContent = s === "live" ? "Live: updates arrive without reloading" : "Reconnecting…";
  };
  let live = false;
  // Runs again after a lapsed sign-in is renewed: the sections load once more, the listeners stay.
  caas.boot(async ({ mode, result }) => {
    con.signedIn();
    $("content").hidden = false;
    let sections = Object.keys(con.loaders);
    if (mode === "app" && result && !result.isError && result.structuredContent) {
      detail.showQueue(result.structuredContent); // as the host passed it; Refresh reads it again
      sections = sections.filter((name) => name !== "queue");
    }
    if (mode === "web" && !live) live = caas.live(onEvent, onState);
    if (mode === "app") $("live-state").textContent = "Press Refresh to see changes";
    await Promise.all(sections.map(con.load));
    await con.revenue().catch(con.report);
    caas.resized(); // a host sizes its frame to the page
  });
})();
