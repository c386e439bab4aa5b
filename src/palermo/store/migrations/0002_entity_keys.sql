-- Version 2: events refer to entities by a 64-bit key, not by the id string.
-- key = first 8 bytes of MD5(id), little-endian, minus 2^63 (palermo.model.entity_key); the
-- entity_keys table maps each key used in the workspace back to its id.

CREATE TABLE entity_keys (
    key       BIGINT NOT NULL,
    entity_id VARCHAR NOT NULL
);

CREATE TABLE payments_v2 (
    id                VARCHAR NOT NULL,
    source_id         VARCHAR,
    occurred_at       TIMESTAMPTZ NOT NULL,
    payer_key         BIGINT,
    payer_account_key BIGINT,
    payer_account     VARCHAR,
    payee_key         BIGINT,
    payee_account_key BIGINT,
    payee_account     VARCHAR,
    amount            DECIMAL(20,4) NOT NULL,
    currency          VARCHAR NOT NULL,
    amount_eur        DECIMAL(20,4),
    payer_country     VARCHAR,
    payee_country     VARCHAR,
    payment_type      VARCHAR,
    reference         VARCHAR,
    compartment       VARCHAR NOT NULL,
    evidence_sha256   VARCHAR NOT NULL,
    source_row        BIGINT,
    run_id            BIGINT NOT NULL
);

INSERT INTO entity_keys
SELECT DISTINCT ((md5_number(id) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT, id
FROM (
    SELECT entity_id AS id FROM statements
    UNION SELECT payer_id FROM payments UNION SELECT payer_account_id FROM payments
    UNION SELECT payee_id FROM payments UNION SELECT payee_account_id FROM payments
) WHERE id IS NOT NULL;

INSERT INTO payments_v2
SELECT id, source_id, occurred_at,
    ((md5_number(payer_id) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT,
    ((md5_number(payer_account_id) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT,
    payer_account,
    ((md5_number(payee_id) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT,
    ((md5_number(payee_account_id) & 18446744073709551615)::HUGEINT - 9223372036854775808)::BIGINT,
    payee_account, amount, currency, amount_eur, payer_country, payee_country, payment_type,
    reference, compartment, evidence_sha256, source_row, run_id
FROM payments;

DROP TABLE payments;

ALTER TABLE payments_v2 RENAME TO payments;
