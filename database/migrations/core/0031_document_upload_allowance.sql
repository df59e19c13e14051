-- The document uploads an application has asked for, ever (tools/credit/domain/documents.py
-- MAX_DOCUMENT_UPLOADS bounds it). request_document_upload raises it by one in the statement that
-- stores the upload, only while it is under the bound: the row's lock serialises concurrent requests
-- for one application, so the bound holds under any concurrency, and an application's uploads (and
-- the documents registered from them) can no longer grow without end at a caller's will. No CHECK of
-- the bound here: the bound is the product's setting, and the statement is the only writer.
ALTER TABLE caas_core.applications ADD COLUMN document_uploads integer NOT NULL DEFAULT 0;

UPDATE caas_core.applications a SET document_uploads = u.n
FROM (SELECT application_id, count(*)::integer AS n FROM caas_core.document_uploads GROUP BY 1) u
WHERE a.id = u.application_id;
