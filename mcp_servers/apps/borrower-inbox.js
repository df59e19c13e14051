// Notifications (the in-app inbox, marked read one by one) and support chat (conversations with CaaS
// support: open one, read it, answer). A support reply arrives as a notification, live.
"use strict";
(() => {
  const { el, time } = caas;
  const { $, state, button, section } = B;

  section.inbox = async () => {
    const page = await caas.tool("{{TOOL:list_notifications}}", { limit: 20 });
    $("unread").textContent = page.unread_count === 1 ? "1 unread notification" : page.unread_count + " unread notifications";
    $("inbox").replaceChildren(
      ...page.items.map((n) => {
        const item = el("li", null, { "data-notification": n.id });
        item.append(el("strong", (n.read_at ? "" : "New: ") + n.title), " ", el("span", n.body), " ", el("small", time(n.created_at)));
        if (!n.read_at) {
          item.append(" ", button("Mark read", async () => {
            await caas.tool("{{TOOL:mark_notification_read}}", { notification: n.id });
            await section.inbox();
          }, { "aria-label": "Mark read: " + n.title }));
        }
        return item;
      }),
    );
  };

  const openConversation = async (id) => {
    const detail = await caas.tool("{{TOOL:get_support_conversation}}", { conversation: id, limit: 100 });
    state.conversation = detail.conversation;
    $("conversation").hidden = false;
    $("conversation-title").textContent = detail.conversation.subject + " (" + detail.conversation.status + ")";
    $("messages").replaceChildren(
      ...detail.messages.map((m) => el("li", (m.author_role === "operator" ? "Support" : "You") + ", " + time(m.created_at) + ": " + m.body)),
    );
    $("reply").hidden = detail.conversation.status !== "open";
  };

  section.support = async () => {
    const page = await caas.tool("{{TOOL:list_support_conversations}}", { limit: 20 });
    $("conversations").replaceChildren(
      ...page.items.map((c) => {
        const item = el("li");
        const unread = c.unread_count ? " · " + c.unread_count + " unread" : "";
        item.append(el("span", c.subject + " (" + c.status + unread + ") "), button("Read", () => openConversation(c.id), { "aria-label": "Read " + c.subject }));
        return item;
      }),
    );
    if (state.conversation) await openConversation(state.conversation.id);
  };

  $("reply").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await caas.tool("{{TOOL:post_support_message}}", { conversation: state.conversation.id, message: $("reply-text").value });
      $("reply-text").value = "";
      await section.support();
    } catch (err) {
      caas.report(err);
    }
  });

  $("ask").addEventListener("submit", async (event) => {
    event.preventDefault();
    const args = { subject: $("ask-subject").value, message: $("ask-text").value };
    if (state.app) args.application = state.app.id;
    try {
      const opened = await caas.tool("{{TOOL:open_support_conversation}}", args);
      $("ask").reset();
      state.conversation = opened.conversation;
      await section.support();
    } catch (err) {
      caas.report(err);
    }
  });
})();
