-- Version 7: sharing with partner agencies (issue 11). Partners' public keys, and every package
-- sent or received with its manifest (what left or came, to or from whom, under which legal
-- basis); a received package's rows carry its ingest run, so a revocation removes exactly them.

CREATE TABLE partner_keys (
    name           VARCHAR PRIMARY KEY,     -- as this workspace calls the partner
    fingerprint    VARCHAR NOT NULL UNIQUE, -- sha256 of the two public keys, hex
    signing_key    VARCHAR NOT NULL,        -- Ed25519 public key, base64
    encryption_key VARCHAR NOT NULL,        -- X25519 public key, base64
    imported_at    TIMESTAMPTZ NOT NULL,
    imported_by    VARCHAR NOT NULL
);

CREATE TABLE packages (
    package_id     VARCHAR PRIMARY KEY,
    direction      VARCHAR NOT NULL,        -- sent | received
    partner        VARCHAR NOT NULL,        -- the recipient (sent) or the sender (received)
    compartment    VARCHAR NOT NULL,
    legal_basis    VARCHAR NOT NULL,
    reference      VARCHAR,
    policy         JSON NOT NULL,
    manifest       JSON NOT NULL,           -- counts, table hashes, entity ids, evidence
    package_sha256 VARCHAR NOT NULL,        -- of the package file as sent / received
    created_at     TIMESTAMPTZ NOT NULL,    -- when the sender built it
    recorded_at    TIMESTAMPTZ NOT NULL,
    recorded_by    VARCHAR NOT NULL,
    run_id         BIGINT,                  -- received: the ingest run its rows carry
    status         VARCHAR NOT NULL,        -- sent | revoked | received | withdrawn
    closed_at      TIMESTAMPTZ
);
