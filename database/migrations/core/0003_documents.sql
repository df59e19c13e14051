-- KYC documents: upload requests (where the client puts a file) and the registered documents with
-- their one decision. Files live in object storage (Supabase Storage, or a local directory for the
-- embedded default); only their metadata and SHA-256 are kept here.
CREATE TABLE caas_core.document_uploads (
    id                uuid PRIMARY KEY,
    application_id    uuid NOT NULL REFERENCES caas_core.applications (id),
    document_type     text NOT NULL CHECK (document_type IN
        ('national_id', 'passport', 'proof_of_income', 'bank_statement', 'proof_of_address')),
    file_name         text NOT NULL CHECK (file_name ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$'),
    media_type        text NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes        bigint NOT NULL CHECK (size_bytes > 0),
    storage           text NOT NULL CHECK (storage IN ('local', 'supabase')),
    object_path       text NOT NULL UNIQUE,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'registered')),
    requested_by      text NOT NULL,
    requested_by_role text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX document_uploads_pending_idx
    ON caas_core.document_uploads (application_id, document_type) WHERE status = 'pending';

CREATE TABLE caas_core.documents (
    id                 uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    application_id     uuid NOT NULL REFERENCES caas_core.applications (id),
    upload_id          uuid NOT NULL UNIQUE REFERENCES caas_core.document_uploads (id),
    document_type      text NOT NULL CHECK (document_type IN
        ('national_id', 'passport', 'proof_of_income', 'bank_statement', 'proof_of_address')),
    file_name          text NOT NULL,
    media_type         text NOT NULL CHECK (media_type IN ('application/pdf', 'image/jpeg', 'image/png')),
    size_bytes         bigint NOT NULL CHECK (size_bytes > 0),
    storage            text NOT NULL CHECK (storage IN ('local', 'supabase')),
    object_path        text NOT NULL,
    sha256             text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    status             text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'verified', 'rejected')),
    uploaded_by        text NOT NULL,
    registered_by      text NOT NULL,
    registered_by_role text NOT NULL,
    registered_at      timestamptz NOT NULL DEFAULT now(),
    decided_by         text,
    decided_by_role    text CHECK (decided_by_role IN ('operator', 'admin')),
    decided_at         timestamptz,
    decision_reason    text CHECK (length(decision_reason) BETWEEN 1 AND 500),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    version            integer NOT NULL DEFAULT 1,
    -- The same file once per application, whatever became of the first copy.
    CONSTRAINT documents_application_sha256_key UNIQUE (application_id, sha256),
    -- Decided exactly when someone decided it, and a rejection always says why.
    CONSTRAINT documents_decision_complete CHECK (
        (status = 'pending') = (decided_by IS NULL AND decided_by_role IS NULL AND decided_at IS NULL)
    ),
    CONSTRAINT documents_rejection_has_reason CHECK (status <> 'rejected' OR decision_reason IS NOT NULL),
    -- Maker-checker, also for anything that writes here without the use case.
    CONSTRAINT documents_four_eyes CHECK (decided_by <> uploaded_by AND decided_by <> registered_by)
);
CREATE INDEX documents_application_idx ON caas_core.documents (application_id, registered_at, id);

GRANT SELECT, INSERT, UPDATE ON caas_core.document_uploads, caas_core.documents TO caas_app;
