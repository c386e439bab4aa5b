-- Version 3: entity resolution. A run scores candidate pairs of entities (resolution_pairs), links
-- those above the auto-merge threshold or accepted by a person, and records for every entity its
-- cluster (resolution). Decisions by people are kept apart (resolution_decisions): later runs
-- respect them, and a rejected pair is never linked again, which is how a merge is undone.

CREATE TABLE resolution (
    entity_id         VARCHAR NOT NULL,
    cluster_id        VARCHAR NOT NULL,     -- the smallest entity id of the cluster
    kind              VARCHAR NOT NULL,     -- FtM schema (Person, ...)
    match_probability DOUBLE,               -- strongest link into the cluster (1: alone or decided)
    match_weight      DOUBLE,
    decided_by        VARCHAR NOT NULL,     -- alone | model | review
    deciding_comparison VARCHAR,            -- the comparison with the largest weight in that link
    evidence          JSON,                 -- that link: the other entity and every level
    run_id            BIGINT NOT NULL
);

CREATE TABLE resolution_pairs (
    left_id           VARCHAR NOT NULL,     -- left_id < right_id
    right_id          VARCHAR NOT NULL,
    kind              VARCHAR NOT NULL,
    match_probability DOUBLE NOT NULL,
    match_weight      DOUBLE NOT NULL,
    levels            JSON NOT NULL,        -- {comparison: {level, weight}}: why
    status            VARCHAR NOT NULL,     -- merged | review | below | accepted | rejected
    run_id            BIGINT NOT NULL
);

CREATE TABLE resolution_decisions (
    seq        BIGINT NOT NULL,
    left_id    VARCHAR NOT NULL,
    right_id   VARCHAR NOT NULL,
    decision   VARCHAR NOT NULL,            -- accept | reject | undo
    actor      VARCHAR NOT NULL,
    decided_at TIMESTAMPTZ NOT NULL,
    note       VARCHAR
);

CREATE TABLE resolution_runs (
    run_id     BIGINT NOT NULL,
    actor      VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    parameters JSON NOT NULL,
    summary    JSON NOT NULL
);

-- Addresses are property values, not entities: the same house written in several ways (a register,
-- a hotline report, a KYC record) gets one address_id, so that "shares an address" can be seen.
CREATE TABLE address_resolution (
    address     VARCHAR NOT NULL,           -- the value as stored (statements.value)
    address_id  VARCHAR NOT NULL,           -- the smallest fingerprint of its cluster
    fingerprint VARCHAR,                    -- rigour.addresses.address_fingerprint
    score       DOUBLE,                     -- the strongest similarity that put it there (1: alone)
    run_id      BIGINT NOT NULL
);
