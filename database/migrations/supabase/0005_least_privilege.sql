-- Least privilege for the API roles, and the policies brought in line with the tools.
--
-- Hosted Supabase grants ALL on every table, sequence and function created in public to anon,
-- authenticated and service_role (default privileges), so the column grants of 0003/0004 limited
-- nothing there: a user could set its notification's delivery_status, its masked phone, a message's
-- created_at. Here every grant of the API roles on the plan's objects is revoked and only what each
-- role needs is granted back (columns, where a user may change only some). Also:
--   - a support conversation names only an application of the user's own, and only borrowers and
--     agents open one (operators answer: the tools' OPENERS); a message is written under the
--     author's own role, and nobody, staff included, posts into a closed conversation;
--   - staff only close an open conversation (status), and closing stamps closed_at/closed_by;
--   - a user sees and marks read only its in-app notifications (the sms/email rows are delivery
--     records), and read_at is set once, to the time of marking (as mark_notification_read);
--   - preferences are for sms and email only (in-app is always on), and get a surrogate key:
--     Realtime sends DELETE events to every subscriber without RLS, carrying the primary key,
--     which was (user_id, event_kind, channel); user_profiles, keyed by the user's id, leaves the
--     publication (nothing subscribes to profiles: the user edits its own);
--   - storage policies are limited to the documents bucket;
--   - every function has a fixed search_path and none is executable beyond who needs it.
-- Columns (beside the list in 0003): notification_preferences + id uuid PK (default
-- gen_random_uuid()); (user_id, event_kind, channel) stays UNIQUE, the key of upserts.

-- Grants ------------------------------------------------------------------------------------------
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['user_profiles', 'application_status', 'notifications',
                             'notification_preferences', 'support_conversations', 'support_messages',
                             'support_conversation_reads', 'document_uploads', 'user_activities'] LOOP
        -- Column privileges go with the table's (REVOKE ALL removes both).
        EXECUTE format('REVOKE ALL ON public.%I FROM PUBLIC, anon, authenticated', t);
        -- The server never truncates, references or adds triggers; TRUNCATE would skip row security.
        EXECUTE format('REVOKE TRUNCATE, REFERENCES, TRIGGER ON public.%I FROM service_role', t);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON public.%I TO service_role', t);
        EXECUTE format('GRANT SELECT ON public.%I TO authenticated', t);
    END LOOP;
END;
$$;
REVOKE ALL ON SEQUENCE public.user_activities_id_seq FROM PUBLIC, anon, authenticated, service_role;
GRANT USAGE ON SEQUENCE public.user_activities_id_seq TO service_role;

GRANT INSERT (id, display_name, preferred_channel, locale),
      UPDATE (display_name, preferred_channel, locale) ON public.user_profiles TO authenticated;
GRANT UPDATE (read_at) ON public.notifications TO authenticated;
GRANT INSERT (user_id, event_kind, channel, enabled), UPDATE (enabled), DELETE
    ON public.notification_preferences TO authenticated;
GRANT INSERT (user_id, application_id, subject), UPDATE (status) ON public.support_conversations
    TO authenticated;
GRANT INSERT (conversation_id, author_id, author_role, body) ON public.support_messages TO authenticated;

-- Objects this role creates in public from now on start with no grant to the API roles (hosted
-- Supabase's default is ALL): a table added later is reachable only once a migration says so.
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON TABLES FROM anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON SEQUENCES FROM anon, authenticated;
ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE ALL ON FUNCTIONS FROM anon, authenticated;

-- Functions ---------------------------------------------------------------------------------------
-- search_path '' : every name in these bodies is schema-qualified or in pg_catalog.
ALTER FUNCTION caas_supabase.is_staff() SET search_path = '';
ALTER FUNCTION caas_supabase.touch_updated_at() SET search_path = '';
ALTER FUNCTION caas_supabase.bump_conversation() SET search_path = '';

-- The auth and storage functions 0001/0003 made on plain PostgreSQL, where this role owns them (on
-- hosted Supabase they are Supabase's, owned by its own roles, and left alone).
DO $$
DECLARE
    f regprocedure;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname IN ('auth', 'storage') AND p.proowner = current_user::regrole
               AND p.proconfig IS NULL LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = %L', f, '');
    END LOOP;
END;
$$;

-- The caller's CaaS role as mcp_servers/platform/auth.py reads it: app_metadata (set by the platform),
-- then a caas_role claim, else borrower. Never user_metadata: the user edits that.
CREATE FUNCTION caas_supabase.caas_role() RETURNS text LANGUAGE sql STABLE SET search_path = '' AS $fn$
    SELECT coalesce(
        nullif(auth.jwt() -> 'app_metadata' ->> 'caas_role', ''),
        nullif(auth.jwt() ->> 'caas_role', ''),
        'borrower'
    )
$fn$;

-- The author_role a message of the caller carries (tools.notifications.support_chat._author_role).
CREATE FUNCTION caas_supabase.author_role() RETURNS text LANGUAGE sql STABLE SET search_path = '' AS $fn$
    SELECT CASE
        WHEN r IN ('operator', 'admin') THEN 'operator'
        WHEN r IN ('borrower', 'agent') THEN r
    END
    FROM (SELECT caas_supabase.caas_role() AS r) AS me
$fn$;

-- A notification is read once, at the time it is marked; an API caller cannot date it or unread it.
CREATE FUNCTION caas_supabase.read_once() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
    IF current_user = 'authenticated' THEN
        NEW.read_at := coalesce(OLD.read_at, CASE WHEN NEW.read_at IS NOT NULL THEN now() END);
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER notifications_read_once BEFORE UPDATE ON public.notifications
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.read_once();

-- Closing through the API records when and by whom, as close_support_conversation does.
CREATE FUNCTION caas_supabase.stamp_closed() RETURNS trigger LANGUAGE plpgsql SET search_path = '' AS $fn$
BEGIN
    IF NEW.status = 'closed' AND OLD.status = 'open' AND NEW.closed_at IS NULL THEN
        NEW.closed_at := now();
        NEW.closed_by := coalesce(NEW.closed_by, auth.uid()::text);
    END IF;
    RETURN NEW;
END;
$fn$;
CREATE TRIGGER support_conversations_stamp_closed BEFORE UPDATE ON public.support_conversations
    FOR EACH ROW EXECUTE FUNCTION caas_supabase.stamp_closed();

-- Functions are executable by PUBLIC by default; policies need only these two, trigger functions none.
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA caas_supabase FROM PUBLIC, anon, authenticated;
GRANT EXECUTE ON FUNCTION caas_supabase.is_staff(), caas_supabase.caas_role(), caas_supabase.author_role()
    TO authenticated, service_role;
REVOKE ALL ON SCHEMA caas_supabase FROM PUBLIC, anon;

-- Support chat -------------------------------------------------------------------------------------
DROP POLICY support_conversations_open_own ON public.support_conversations;
CREATE POLICY support_conversations_open_own ON public.support_conversations FOR INSERT TO authenticated
    WITH CHECK (
        user_id = (SELECT auth.uid())::text
        AND status = 'open'
        AND (SELECT caas_supabase.caas_role()) IN ('borrower', 'agent')
        AND (
            application_id IS NULL
            OR EXISTS (SELECT 1 FROM public.application_status a
                       WHERE a.application_id = support_conversations.application_id
                         AND a.borrower_id = (SELECT auth.uid())::text)
        )
    );

DROP POLICY support_conversations_staff_update ON public.support_conversations;
CREATE POLICY support_conversations_staff_close ON public.support_conversations FOR UPDATE TO authenticated
    USING ((SELECT caas_supabase.is_staff()) AND status = 'open')
    WITH CHECK ((SELECT caas_supabase.is_staff()) AND status = 'closed');

DROP POLICY support_messages_post_own ON public.support_messages;
CREATE POLICY support_messages_post_own ON public.support_messages FOR INSERT TO authenticated
    WITH CHECK (
        author_id = (SELECT auth.uid())::text
        AND author_role = (SELECT caas_supabase.author_role())
        AND EXISTS (SELECT 1 FROM public.support_conversations c
                    WHERE c.id = conversation_id AND c.user_id = (SELECT auth.uid())::text
                      AND c.status = 'open')
    );
DROP POLICY support_messages_post_staff ON public.support_messages;
CREATE POLICY support_messages_post_staff ON public.support_messages FOR INSERT TO authenticated
    WITH CHECK (
        author_id = (SELECT auth.uid())::text
        AND author_role = 'operator'
        AND (SELECT caas_supabase.is_staff())
        AND EXISTS (SELECT 1 FROM public.support_conversations c
                    WHERE c.id = conversation_id AND c.status = 'open')
    );

-- Notifications ------------------------------------------------------------------------------------
-- The SMS and email rows are the server's delivery records (gateway ids, send errors); the user's
-- inbox is the in-app rows, as list_notifications and mark_notification_read have it.
DROP POLICY notifications_read ON public.notifications;
CREATE POLICY notifications_read ON public.notifications FOR SELECT TO authenticated
    USING ((user_id = (SELECT auth.uid())::text AND channel = 'in_app') OR (SELECT caas_supabase.is_staff()));
DROP POLICY notifications_mark_read_own ON public.notifications;
CREATE POLICY notifications_mark_read_own ON public.notifications FOR UPDATE TO authenticated
    USING (user_id = (SELECT auth.uid())::text AND channel = 'in_app')
    WITH CHECK (user_id = (SELECT auth.uid())::text AND channel = 'in_app');

-- Preferences --------------------------------------------------------------------------------------
ALTER TABLE public.notification_preferences
    ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid(),
    DROP CONSTRAINT notification_preferences_pkey,
    ADD CONSTRAINT notification_preferences_pkey PRIMARY KEY (id),
    ADD CONSTRAINT notification_preferences_once UNIQUE (user_id, event_kind, channel);

DROP POLICY notification_preferences_insert_own ON public.notification_preferences;
CREATE POLICY notification_preferences_insert_own ON public.notification_preferences FOR INSERT
    TO authenticated WITH CHECK (user_id = (SELECT auth.uid())::text AND channel IN ('sms', 'email'));

-- Realtime -----------------------------------------------------------------------------------------
DO $$
BEGIN
    -- A project may have taken it out by hand already.
    IF EXISTS (SELECT 1 FROM pg_publication_tables WHERE pubname = 'supabase_realtime'
               AND schemaname = 'public' AND tablename = 'user_profiles') THEN
        ALTER PUBLICATION supabase_realtime DROP TABLE public.user_profiles;
    END IF;
END;
$$;

-- Storage ------------------------------------------------------------------------------------------
-- Only the documents bucket (CAAS_SUPABASE_STORAGE_BUCKET's default); the platform's own writes go
-- as service_role and are not limited by these.
DROP POLICY caas_own_folder_read ON storage.objects;
DROP POLICY caas_own_folder_insert ON storage.objects;
DROP POLICY caas_own_folder_update ON storage.objects;
DROP POLICY caas_own_folder_delete ON storage.objects;
CREATE POLICY caas_own_folder_read ON storage.objects FOR SELECT TO authenticated
    USING (bucket_id = 'caas-documents' AND (storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_insert ON storage.objects FOR INSERT TO authenticated
    WITH CHECK (bucket_id = 'caas-documents' AND (storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_update ON storage.objects FOR UPDATE TO authenticated
    USING (bucket_id = 'caas-documents' AND (storage.foldername(name))[1] = (SELECT auth.uid())::text)
    WITH CHECK (bucket_id = 'caas-documents' AND (storage.foldername(name))[1] = (SELECT auth.uid())::text);
CREATE POLICY caas_own_folder_delete ON storage.objects FOR DELETE TO authenticated
    USING (bucket_id = 'caas-documents' AND (storage.foldername(name))[1] = (SELECT auth.uid())::text);
