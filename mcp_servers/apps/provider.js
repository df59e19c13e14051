// Provider dashboard: a lender's invitations, bids (with a live APR preview), loans, capital, commission
// and webhook deliveries. Every figure comes from the tools, called as the signed-in provider.
"use strict";
const lender = (() => {
  const { el, money, time } = caas;
  const $ = (id) => document.getElementById(id);
  // invitationFilters: the filters of the call whose pages are shown (the host's, in app mode): a
  // cursor is only good with the filters it was issued under.
  const state = { invitations: [], nextInvitations: null, invitationFilters: {}, bids: [], providerId: null };
  const dash = (v) => (v === null || v === undefined || v === "" ? "—" : v);
  const words = (s) => String(s).replace(/_/g, " ");

  // Runs one button's work: disabled meanwhile, a failure shown as the tool's own message.
  const busy = async (button, work) => {
    if (button) button.disabled = true;
    try {
      return await work();
    } catch (err) {
      caas.report(err);
      return undefined;
    } finally {
      if (button) button.disabled = false;
    }
  };
  const cell = (text, numeric) => el("td", dash(text), numeric ? { class: "num" } : undefined);
  const button = (label, onClick, name) => {
    const b = el("button", label, { type: "button" });
    if (name) b.setAttribute("aria-label", name);
    b.addEventListener("click", () => onClick(b));
    return b;
  };
  // A table's rows, and whether it (or its empty note) shows.
  const fill = (table, empty, rows) => {
    $(table).querySelector("tbody").replaceChildren(...rows);
    $(table).hidden = rows.length === 0;
    if (empty) $(empty).hidden = rows.length > 0;
  };

  // Percent as typed ("24.5") <-> the tools' fraction ("0.245"), exactly: decimal strings, never floats.
  const fraction = (typed) => {
    const t = String(typed).trim();
    if (!/^\d+(\.\d+)?$/.test(t)) return null;
    const [whole, part = ""] = t.split(".");
    const padded = whole.padStart(3, "0");
    const units = padded.slice(0, -2).replace(/^0+(?=\d)/, "");
    const decimals = (padded.slice(-2) + part).replace(/0+$/, "");
    return decimals ? `${units}.${decimals}` : units;
  };
  const percentOf = (rate) => {
    const [whole, part = ""] = String(rate).split(".");
    const padded = part.padEnd(2, "0");
    const units = (whole + padded.slice(0, 2)).replace(/^0+(?=\d)/, "");
    const decimals = padded.slice(2).replace(/0+$/, "");
    return decimals ? `${units}.${decimals}` : units;
  };

  const invitationRow = (i) => {
    const row = el("tr");
    const open = i.application_status === "open_for_bids";
    const active = state.bids.some((b) => b.application_id === i.application_id && b.status === "active");
    const actions = el("td", null, { class: "actions" });
    if (open && (i.status === "invited" || (i.status === "bid_submitted" && !active))) {
      actions.append(button("Bid…", () => lender.openBid(i)));
    }
    if (open && i.status === "invited") {
      actions.append(button("Decline…", () => lender.openDecline(i)));
    }
    const percent = (v) => (v === null ? "—" : caas.percent(Number(v), 1));
    row.append(
      el("th", i.reference, { scope: "row" }),
      cell(money(i.requested_amount), true),
      cell(`${i.term_months} mo`, true),
      cell(words(i.purpose)),
      cell(i.country),
      cell(i.grade),
      cell(i.score, true),
      cell(percent(i.dti), true),
      cell(words(i.application_status)),
      cell(words(i.status)),
      cell(i.bidding_closes_at ? time(i.bidding_closes_at) : "—"),
      actions,
    );
    return row;
  };
  const renderInvitations = () => fill("invitations", "invitations-empty", state.invitations.map(invitationRow));

  // The list_invitations result (the host's, in app mode), or the next page of it.
  const showInvitations = (page, append) => {
    state.invitations = append ? state.invitations.concat(page.items) : page.items;
    state.nextInvitations = page.next_cursor;
    $("invitations-more").hidden = !page.next_cursor;
    renderInvitations();
  };
  const loadInvitations = async () => {
    state.invitationFilters = {};
    showInvitations(await caas.tool("{{TOOL:list_invitations}}", { limit: 50 }), false);
  };
  const moreInvitations = (b) =>
    busy(b, async () => {
      const args = { ...state.invitationFilters, limit: 50, cursor: state.nextInvitations };
      const page = await caas.tool("{{TOOL:list_invitations}}", args);
      showInvitations(page, true);
    });

  return { $, el, money, time, dash, words, state, busy, cell, button, fill, fraction, percentOf,
    renderInvitations, showInvitations, loadInvitations, moreInvitations };
})();
