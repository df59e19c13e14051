-- Who changed a draft's fields (update_application), each once. Maker-checker read only updated_by,
-- which every later status move overwrites, so an operator who raised a draft's income could approve it
-- once others had moved it on (tools/credit/domain/maker_checker.py). Not timeline entries: those count
-- as status moves in the application totals (migration 0029).
ALTER TABLE caas_core.applications ADD COLUMN edited_by text[] NOT NULL DEFAULT '{}';
