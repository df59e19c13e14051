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
  // In a host: the list_invitations result it passes (also when it arrives after the page started),
  // shown as it is; the other sections are read as the same provider, through the host.
  const passed = (result) => {
    if (!result) return false;
    if (result.isError) {
      caas.status((result.content || []).map((c) => c.text || "").join(" "), true);
      return false;
    }
    lender.showInvitations(result.structuredContent, false);
    return true;
  };
  if (caas.inHost) {
    window.addEventListener("message", (event) => {
      const msg = event.source === window.parent ? event.data || {} : {};
      if (msg.method === "ui/notifications/tool-result" && passed(msg.params)) {
        caas.status("");
        lender.refresh(["bids"]);
      }
    });
  }
  caas.boot(async ({ mode, input, result }) => {
    $("content").hidden = false;
    if (mode === "app") {
      // Its next pages are asked with the host's own filters (a cursor is bound to them).
      const { cursor, limit, ...filters } = input || {};
      lender.state.invitationFilters = filters;
      // The invitations are the host's result (now, or in its tool-result notification); Refresh reads them.
      if (!passed(result)) caas.status("Waiting for the invitations from the host…");
      await lender.refresh(["bids", "loans", "capital", "commission", "deliveries"]);
      return;
    }
    if (mode === "web") caas.live(onEvent, (s) => { $("live-state").textContent = STATES[s] || ""; });
    await lender.refresh();
  });
})();
