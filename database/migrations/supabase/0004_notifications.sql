-- Notification deliveries and support chat: the columns and the table the notifications server
-- needs beyond the plan tables of 0003.
--
--   notifications              + provider_message_id text NULL (the gateway's id of a sent SMS/email),
--                              + attempts smallint (sends tried for an sms/email row; in_app rows 0),
--                              + last_error text NULL (why the last send failed; never personal data)
--                              The sms/email rows are the per-channel delivery records of an event:
--                              (event_id, user_id, channel) is unique, delivery_status says whether
--                              the message left ('sent'), is still to be retried ('pending') or was
--                              refused for good ('failed'). The inbox (list_notifications) shows only
--                              channel = 'in_app'. No row holds the phone number or email address.
--   support_conversations      + closed_at timestamptz NULL, closed_by text NULL (the operator)
--   support_conversation_reads conversation_id uuid FK, reader_id text, last_read_at timestamptz;
--                              PK (conversation_id, reader_id): when each participant last read a
--                              conversation, so that a listing can say how many messages are unread.

ALTER TABLE public.notifications
    ADD COLUMN provider_message_id text CHECK (char_length(provider_message_id) <= 200),
    ADD COLUMN attempts smallint NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    ADD COLUMN last_error text CHECK (char_length(last_error) <= 500);

-- The inbox reads only in-app rows, newest first, a page at a time.
CREATE INDEX notifications_inbox_idx ON public.notifications (user_id, created_at DESC, id DESC)
    WHERE channel = 'in_app';

ALTER TABLE public.support_conversations
    ADD COLUMN closed_at timestamptz,
    ADD COLUMN closed_by text CHECK (char_length(closed_by) <= 128);
CREATE INDEX support_conversations_inbox_idx ON public.support_conversations (updated_at DESC, id DESC);

CREATE TABLE public.support_conversation_reads (
    conversation_id uuid NOT NULL REFERENCES public.support_conversations (id) ON DELETE CASCADE,
    reader_id       text NOT NULL CHECK (char_length(reader_id) BETWEEN 1 AND 128),
    last_read_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (conversation_id, reader_id)
);

ALTER TABLE public.support_conversation_reads ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.support_conversation_reads FORCE ROW LEVEL SECURITY;
CREATE POLICY support_conversation_reads_service_all ON public.support_conversation_reads
    FOR ALL TO service_role USING (true) WITH CHECK (true);
CREATE POLICY support_conversation_reads_own ON public.support_conversation_reads
    FOR SELECT TO authenticated USING (reader_id = (SELECT auth.uid())::text);
GRANT SELECT, INSERT, UPDATE, DELETE ON public.support_conversation_reads TO service_role;
GRANT SELECT ON public.support_conversation_reads TO authenticated;
