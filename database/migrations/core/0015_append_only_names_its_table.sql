-- The append-only guard serves several tables (audit log, application timeline, risk assessments):
-- its refusal names the table it guards rather than always the audit log.
CREATE OR REPLACE FUNCTION caas_audit.refuse_rewrite() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%.% is append-only: % is not allowed', TG_TABLE_SCHEMA, TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
