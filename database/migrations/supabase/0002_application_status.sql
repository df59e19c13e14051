-- The borrower-facing mirror of an application's status, read through RLS and Realtime.
-- It carries no personal data beyond the borrower's own id: the system of record stays in Neon.
CREATE TABLE public.application_status (
    application_id   uuid PRIMARY KEY,
    reference        text NOT NULL UNIQUE,
    borrower_id      text NOT NULL,
    status           text NOT NULL,
    requested_amount numeric(20, 4) NOT NULL,
    currency         char(3) NOT NULL,
    term_months      smallint NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX application_status_borrower_idx ON public.application_status (borrower_id, updated_at DESC);

ALTER TABLE public.application_status ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.application_status FORCE ROW LEVEL SECURITY;

CREATE POLICY application_status_owner_read ON public.application_status
    FOR SELECT TO authenticated
    USING (borrower_id = (SELECT auth.uid())::text);
CREATE POLICY application_status_service_all ON public.application_status
    FOR ALL TO service_role
    USING (true) WITH CHECK (true);

GRANT SELECT ON public.application_status TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON public.application_status TO service_role;

ALTER PUBLICATION supabase_realtime ADD TABLE public.application_status;
