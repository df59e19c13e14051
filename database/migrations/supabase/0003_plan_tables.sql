-- The borrower-facing plan tables, their row-level security, Realtime, and storage folder policies.
--
-- Columns (other services write these; keep this list in step with the DDL below):
--   user_profiles            id text PK (= auth user id, the JWT sub), display_name text NULL,
--                            preferred_channel text 'in_app'|'sms'|'email' (default 'in_app'),
--                            phone_masked text NULL, email_masked text NULL (e.g. '+234******789',
--                            'a***@example.com': never the full value, the vault in Neon keeps that),
--                            locale text (default 'en'), created_at, updated_at
--   application_status       (0002) application_id uuid PK, reference, borrower_id text, status,
--                            requested_amount numeric NULL, currency, term_months NULL, updated_at
--                            + progress_percent smallint 0..100, loan_id uuid NULL, loan_status text NULL,
--                            payment_status text NULL, last_event_id uuid NULL, last_event_type text NULL,
--                            last_sequence bigint (the supabase_sync job id: an update with a sequence
--                            not above it is stale and ignored), last_event_at timestamptz NULL
--   notifications            id uuid PK, user_id text, application_id uuid NULL, kind text (template
--                            name), title text, body text, channel 'in_app'|'sms'|'email',
--                            delivery_status 'pending'|'sent'|'failed' (default 'sent'), event_id uuid NULL,
--                            created_at, read_at NULL; UNIQUE (event_id, user_id, channel) for
--                            idempotent writes (ON CONFLICT DO NOTHING)
--   notification_preferences user_id text, event_kind text ('*' = every kind), channel 'in_app'|'sms'|'email',
--                            enabled boolean, updated_at; PK (user_id, event_kind, channel)
--   support_conversations    id uuid PK, user_id text, application_id uuid NULL, subject text,
--                            status 'open'|'closed', created_at, updated_at (bumped by each message)
--   support_messages         id uuid PK, conversation_id uuid FK, author_id text,
--                            author_role 'borrower'|'operator'|'agent', body text, created_at
--   document_uploads         id uuid PK (= the document id in Neon), user_id text, application_id uuid,
--                            kind text (document type), status text, created_at, updated_at,
--                            last_sequence bigint
--   user_activities          id bigint PK, user_id text, kind text (the event type), application_id uuid
--                            NULL, detail jsonb, occurred_at, event_id uuid NULL UNIQUE
--
-- Access: the owner (auth.uid()) reads its own rows; operators (JWT app_metadata.caas_role, or a
-- caas_role claim, in operator/admin, as mcp_servers/auth.py reads it) read every row; service_role
-- (the sync writer, the notifications server) bypasses RLS. anon gets no grant at all. A user may
-- only: edit its own profile (not the masked contacts) and preferences, mark its own notifications
-- read (read_at only), open conversations and post messages as itself in its own open conversations.
-- Operators may also post as operator and open/close conversations.

CREATE SCHEMA IF NOT EXISTS caas_supabase;
GRANT USAGE ON SCHEMA caas_supabase TO authenticated, service_role;

CREATE FUNCTION caas_supabase.is_staff() RETURNS boolean LANGUAGE sql STABLE AS $fn$
    SELECT coalesce(
        coalesce(auth.jwt() -> 'app_metadata' ->> 'caas_role', auth.jwt() ->> 'caas_role')
            IN ('operator', 'admin'),
        false
    )
$fn$;

CREATE FUNCTION caas_supabase.touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$fn$;

GRANT EXECUTE ON FUNCTION caas_supabase.is_staff() TO authenticated, service_role;

-- user_profiles -------------------------------------------------------------------------------
CREATE TABLE public.user_profiles (
    id                text PRIMARY KEY,
    display_name      text CHECK (char_length(display_name) <= 120),
    preferred_channel text NOT NULL DEFAULT 'in_app' CHECK (preferred_channel IN ('in_app', 'sms', 'email')),
    phone_masked      text CHECK (char_length(phone_masked) <= 32),
    email_masked      text CHECK (char_length(email_masked) <= 254),
    locale            text NOT NULL DEFAULT 'en' CHECK (locale ~ '^[a-z]{2}(-[A-Z]{2})?$'),
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE TRIGGER user_profiles_touch BEFORE UPDATE ON public.user_profiles
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.touch_updated_at();

-- application_status (0002) -------------------------------------------------------------------
-- A draft has no amount or term yet, and its first mirror row is written from its draft event.
ALTER TABLE public.application_status
    ALTER COLUMN requested_amount DROP NOT NULL,
    ALTER COLUMN term_months DROP NOT NULL,
    ADD COLUMN progress_percent smallint NOT NULL DEFAULT 0 CHECK (progress_percent BETWEEN 0 AND 100),
    ADD COLUMN loan_id uuid,
    ADD COLUMN loan_status text,
    ADD COLUMN payment_status text,
    ADD COLUMN last_event_id uuid,
    ADD COLUMN last_event_type text,
    ADD COLUMN last_sequence bigint NOT NULL DEFAULT 0,
    ADD COLUMN last_event_at timestamptz;

CREATE POLICY application_status_staff_read ON public.application_status
    FOR SELECT TO authenticated
    USING ((SELECT caas_supabase.is_staff()));

-- notifications -------------------------------------------------------------------------------
CREATE TABLE public.notifications (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id         text NOT NULL,
    application_id  uuid,
    kind            text NOT NULL CHECK (kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    title           text NOT NULL CHECK (char_length(title) <= 200),
    body            text NOT NULL CHECK (char_length(body) <= 4000),
    channel         text NOT NULL DEFAULT 'in_app' CHECK (channel IN ('in_app', 'sms', 'email')),
    delivery_status text NOT NULL DEFAULT 'sent' CHECK (delivery_status IN ('pending', 'sent', 'failed')),
    event_id        uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    read_at         timestamptz,
    CONSTRAINT notifications_once_per_event UNIQUE (event_id, user_id, channel)
);
CREATE INDEX notifications_user_idx ON public.notifications (user_id, created_at DESC);
CREATE INDEX notifications_unread_idx ON public.notifications (user_id) WHERE read_at IS NULL;

-- notification_preferences --------------------------------------------------------------------
CREATE TABLE public.notification_preferences (
    user_id    text NOT NULL,
    event_kind text NOT NULL DEFAULT '*' CHECK (event_kind = '*' OR event_kind ~ '^[a-z][a-z0-9_.]{0,63}$'),
    channel    text NOT NULL CHECK (channel IN ('in_app', 'sms', 'email')),
    enabled    boolean NOT NULL DEFAULT true,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, event_kind, channel)
);
CREATE TRIGGER notification_preferences_touch BEFORE UPDATE ON public.notification_preferences
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.touch_updated_at();

-- support chat --------------------------------------------------------------------------------
CREATE TABLE public.support_conversations (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id        text NOT NULL,
    application_id uuid,
    subject        text NOT NULL CHECK (char_length(subject) BETWEEN 1 AND 200),
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_conversations_user_idx ON public.support_conversations (user_id, updated_at DESC);
CREATE INDEX support_conversations_open_idx ON public.support_conversations (updated_at DESC)
    WHERE status = 'open';
CREATE TRIGGER support_conversations_touch BEFORE UPDATE ON public.support_conversations
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.touch_updated_at();

CREATE TABLE public.support_messages (
    id              uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    conversation_id uuid NOT NULL REFERENCES public.support_conversations (id) ON DELETE CASCADE,
    author_id       text NOT NULL,
    author_role     text NOT NULL CHECK (author_role IN ('borrower', 'operator', 'agent')),
    body            text NOT NULL CHECK (char_length(body) BETWEEN 1 AND 4000),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX support_messages_conversation_idx ON public.support_messages (conversation_id, created_at);

-- A message moves its conversation up the inbox. SECURITY DEFINER: the author may not update the
-- conversation row itself (a borrower cannot reopen or retitle it).
CREATE FUNCTION caas_supabase.bump_conversation() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, public AS $fn$
BEGIN
    UPDATE public.support_conversations SET updated_at = now() WHERE id = NEW.conversation_id;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER support_messages_bump AFTER INSERT ON public.support_messages
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.bump_conversation();

-- document_uploads ----------------------------------------------------------------------------
CREATE TABLE public.document_uploads (
    id             uuid PRIMARY KEY,
    user_id        text NOT NULL,
    application_id uuid NOT NULL,
    kind           text NOT NULL,
    status         text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    last_sequence  bigint NOT NULL DEFAULT 0
);
CREATE INDEX document_uploads_user_idx ON public.document_uploads (user_id, application_id, created_at);

-- user_activities -----------------------------------------------------------------------------
CREATE TABLE public.user_activities (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id        text NOT NULL,
    kind           text NOT NULL,
    application_id uuid,
    detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at    timestamptz NOT NULL DEFAULT now(),
    event_id       uuid UNIQUE
);
CREATE INDEX user_activities_user_idx ON public.user_activities (user_id, occurred_at DESC);

-- Row-level security --------------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_profiles', 'notifications', 'notification_preferences',
                             'support_conversations', 'support_messages', 'document_uploads',
                             'user_activities'] LOOP
        EXECUTE format('ALTER TABLE public.%I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE public.%I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format('CREATE POLICY %I ON public.%I FOR ALL TO service_role USING (true) WITH CHECK (true)',
                       t || '_service_all', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO service_role', t);
        EXECUTE format('GRANT SELECT ON public.%I TO authenticated', t);
        EXECUTE format('ALTER PUBLICATION supabase_realtime ADD TABLE public.%I', t);
    END LOOP;
END;
$$;
GRANT USAGE ON SEQUENCE public.user_activities_id_seq TO service_role;

-- Reads: the owner, or staff. ----------------------------------------------------------------
CREATE POLICY user_profiles_read ON public.user_profiles FOR SELECT TO authenticated
    USING (id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));
CREATE POLICY notifications_read ON public.notifications FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));
CREATE POLICY notification_preferences_read ON public.notification_preferences FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));
CREATE POLICY support_conversations_read ON public.support_conversations FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));
CREATE POLICY support_messages_read ON public.support_messages FOR SELECT TO authenticated
    USING (
        (SELECT caas_supabase.is_staff())
        OR EXISTS (SELECT 1 FROM public.support_conversations c
                   WHERE c.id = conversation_id AND c.user_id = (SELECT auth.uid())::text)
    );
CREATE POLICY document_uploads_read ON public.document_uploads FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));
CREATE POLICY user_activities_read ON public.user_activities FOR SELECT TO authenticated
    USING (user_id = (SELECT auth.uid())::text OR (SELECT caas_supabase.is_staff()));

-- Writes: only one's own rows, and only the columns granted. ---------------------------------
GRANT INSERT (id, display_name, preferred_channel, locale),
      UPDATE (display_name, preferred_channel, locale) ON public.user_profiles TO authenticated;
CREATE POLICY user_profiles_insert_own ON public.user_profiles FOR INSERT TO authenticated
    WITH CHECK (id = (SELECT auth.uid())::text);
CREATE POLICY user_profiles_update_own ON public.user_profiles FOR UPDATE TO authenticated
    USING (id = (SELECT auth.uid())::text) WITH CHECK (id = (SELECT auth.uid())::text);

GRANT UPDATE (read_at) ON public.notifications TO authenticated;
CREATE POLICY notifications_mark_read_own ON public.notifications FOR UPDATE TO authenticated
    USING (user_id = (SELECT auth.uid())::text) WITH CHECK (user_id = (SELECT auth.uid())::text);

GRANT INSERT (user_id, event_kind, channel, enabled), UPDATE (enabled), DELETE
    ON public.notification_preferences TO authenticated;
CREATE POLICY notification_preferences_insert_own ON public.notification_preferences FOR INSERT
    TO authenticated WITH CHECK (user_id = (SELECT auth.uid())::text);
CREATE POLICY notification_preferences_update_own ON public.notification_preferences FOR UPDATE
    TO authenticated
    USING (user_id = (SELECT auth.uid())::text) WITH CHECK (user_id = (SELECT auth.uid())::text);
CREATE POLICY notification_preferences_delete_own ON public.notification_preferences FOR DELETE
    TO authenticated USING (user_id = (SELECT auth.uid())::text);

GRANT INSERT (user_id, application_id, subject), UPDATE (status) ON public.support_conversations
    TO authenticated;
CREATE POLICY support_conversations_open_own ON public.support_conversations FOR INSERT TO authenticated
    WITH CHECK (user_id = (SELECT auth.uid())::text AND status = 'open');
CREATE POLICY support_conversations_staff_update ON public.support_conversations FOR UPDATE
    TO authenticated
    USING ((SELECT caas_supabase.is_staff())) WITH CHECK ((SELECT caas_supabase.is_staff()));

GRANT INSERT (conversation_id, author_id, author_role, body) ON public.support_messages TO authenticated;
CREATE POLICY support_messages_post_own ON public.support_messages FOR INSERT TO authenticated
    WITH CHECK (
        author_id = (SELECT auth.uid())::text
        AND author_role = 'borrower'
        AND EXISTS (SELECT 1 FROM public.support_conversations c
                    WHERE c.id = conversation_id AND c.user_id = (SELECT auth.uid())::text
                      AND c.status = 'open')
    );
CREATE POLICY support_messages_post_staff ON public.support_messages FOR INSERT TO authenticated
    WITH CHECK (
        author_id = (SELECT auth.uid())::text
        AND author_role = 'operator'
        AND (SELECT caas_supabase.is_staff())
    );

-- Storage --------------------------------------------------------------------------------------
-- Hosted Supabase has the storage schema; plain PostgreSQL (tests, the embedded run) gets the
-- part of it these policies need.
DO $$
BEGIN
    IF to_regclass('storage.objects') IS NULL THEN
        CREATE SCHEMA IF NOT EXISTS storage;
        CREATE TABLE storage.buckets (
            id                 text PRIMARY KEY,
            name               text NOT NULL UNIQUE,
            owner              uuid,
            public             boolean NOT NULL DEFAULT false,
            file_size_limit    bigint,
            allowed_mime_types text[],
            created_at         timestamptz NOT NULL DEFAULT now(),
            updated_at         timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE storage.objects (
            id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            bucket_id        text REFERENCES storage.buckets (id),
            name             text,
            owner            uuid,
            owner_id         text,
            metadata         jsonb,
            created_at       timestamptz NOT NULL DEFAULT now(),
            updated_at       timestamptz NOT NULL DEFAULT now(),
            last_accessed_at timestamptz NOT NULL DEFAULT now(),
            CONSTRAINT objects_bucket_name UNIQUE (bucket_id, name)
        );
        ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
        ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
        ALTER TABLE storage.buckets FORCE ROW LEVEL SECURITY;
        ALTER TABLE storage.objects FORCE ROW LEVEL SECURITY;
        CREATE POLICY buckets_service_all ON storage.buckets FOR ALL TO service_role
            USING (true) WITH CHECK (true);
        CREATE POLICY objects_service_all ON storage.objects FOR ALL TO service_role
            USING (true) WITH CHECK (true);
        CREATE POLICY buckets_read ON storage.buckets FOR SELECT TO authenticated USING (true);
        GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
        GRANT SELECT ON storage.buckets TO authenticated;
        GRANT SELECT, INSERT, UPDATE, DELETE ON storage.objects TO authenticated;
        GRANT SELECT, INSERT, UPDATE, DELETE ON storage.buckets, storage.objects TO service_role;
    END IF;
    IF to_regprocedure('storage.foldername(text)') IS NULL THEN
        -- Supabase's own definition: the folders of an object name, without the file name.
        CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE plpgsql IMMUTABLE AS $fn$
        DECLARE
            _parts text[];
        BEGIN
            SELECT string_to_array(name, '/') INTO _parts;
            RETURN _parts[1:array_length(_parts, 1) - 1];
        END
        $fn$;
        GRANT EXECUTE ON FUNCTION storage.foldername(text) TO anon, authenticated, service_role;
    END IF;
END;
$$;

INSERT INTO storage.buckets (id, name, public) VALUES ('caas-documents', 'caas-documents', false)
ON CONFLICT (id) DO NOTHING;

-- A signed-in user reads and writes only objects under its own folder: '<auth.uid()>/...'. Files
-- the platform stores for an application are written by service_role, which bypasses this.
CREATE POLICY caas_own_folder_read ON storage.objects FOR SELECT TO authenticated
    USING ((storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_insert ON storage.objects FOR INSERT TO authenticated
    WITH CHECK ((storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_update ON storage.objects FOR UPDATE TO authenticated
    USING ((storage.foldername(name))[1] = (SELECT auth.uid())::text)
    WITH CHECK ((storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_delete ON storage.objects FOR DELETE TO authenticated
    USING ((storage.foldername(name))[1] = (SELECT auth.uid())::text);
