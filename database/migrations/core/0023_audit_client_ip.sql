-- The caller's IP address on each audit row (issue 12): over HTTP the address uvicorn settled, a
-- trusted proxy's X-Forwarded-For (CAAS_TRUSTED_PROXIES) when one is in front; NULL for workers and stdio.
ALTER TABLE caas_audit.audit_log ADD COLUMN client_ip inet;
