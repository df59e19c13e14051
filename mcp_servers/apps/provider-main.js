// Provider dashboard: start, refresh what changed (live in a browser, Refresh in a host).
"use strict";
(() => {
  const { $, busy } = lender;
  const LOADERS = {
    invitations: async () => {
      await lender.loadInvitations();
      await lender.loadBids(); // the bids follow the invitations they answer
    },
    bids: () => lender.loadBids(),
    loans: () => lender.loadLoans(),
    capital: () => lender.loadCapital(),
    commission: () => lender.loadCommission(),
    deliveries: () => lender.loadDeliveries(),
  };
  // Each section on its own: one refused or failing section does not blank the others.
  lender.refresh = async (sections) => {
    let names = sections || Object.keys(LOADERS);
    if (names.includes("invitations")) names = names.filter((n) => n !== "bids"); // reloaded with them
    const results = await Promise.allSettled(names.map((n) => LOADERS[n]()));
    const failed = results.find((r) => r.status === "rejected");
    if (failed) caas.report(failed.reason);
    caas.resized();
  };

  // Which sections an event may have changed (events carry no payload: the tools are read again).
  const AFFECTS = {
    bid: ["invitations", "capital"], // its invitation becomes bid_submitted too
    application: ["invitations"],
    provider: ["invitations", "capital", "deliveries"],
    loan: ["loans", "capital", "commission"],
    payment: ["loans", "capital"],
  };
  let pending = new Set();
  let timer = null;
  const onEvent = (event) => {
    for (const s of AFFECTS[event.entity] || []) pending.add(s);
    clearTimeout(timer);
    timer = setTimeout(() => {
      const sections = [...pending];
      pending = new Set();
      lender.refresh(sections);
    }, 250); // a burst of events (an acceptance settles every bid) is one refresh
  };
  const STATES = { live: "Live: updates as they happen", reconnecting: "Reconnecting…" };

  $("invitations-more").addEventListener("click", (event) => lender.moreInvitations(event.currentTarget));
  $("refresh").addEventListener("click", (event) => busy(event.currentTarget, () => lender.refresh()));
  caas.boot(async ({ mode, result }) => {
    if (mode === "app" && result && !result.isError && result.structuredContent) {
      // The invitations the host passed: shown as they are, the rest read as this provider.
      lender.showInvitations(result.structuredContent, false);
      await lender.refresh(["bids", "loans", "capital", "commission", "deliveries"]);
      return;
    }
    if (mode === "web") caas.live(onEvent, (s) => { $("live-state").textContent = STATES[s] || ""; });
    await lender.refresh();
  });
})();
