-- Personal data at rest: ciphertexts only (AES-GCM, the key id inside each blob), and a keyed
-- blind index so a national id can be found without ever being stored or compared in clear.
ALTER TABLE caas_core.applications
    ADD COLUMN date_of_birth_encrypted bytea,
    ADD COLUMN national_id_encrypted   bytea,
    ADD COLUMN national_id_index       bytea CHECK (octet_length(national_id_index) = 32),
    ADD COLUMN bank_account_encrypted  bytea,
    ADD CONSTRAINT applications_national_id_indexed
        CHECK ((national_id_encrypted IS NULL) = (national_id_index IS NULL)),
    ADD CONSTRAINT applications_dob_unless_draft
        CHECK (status IN ('draft', 'withdrawn') OR date_of_birth_encrypted IS NOT NULL);

CREATE INDEX applications_national_id_idx ON caas_core.applications (national_id_index)
    WHERE national_id_index IS NOT NULL;
