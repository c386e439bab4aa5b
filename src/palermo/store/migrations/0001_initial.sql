-- Palermo workspace schema, version 1.
-- Every value keeps its provenance: the evidence file (SHA-256), the row in it, the ingest run, and
-- the compartment (agency / case / JIT) it belongs to.

CREATE TABLE evidence (
    sha256        VARCHAR PRIMARY KEY,      -- content address of the raw file
    original_name VARCHAR NOT NULL,         -- file name as the user gave it
    original_path VARCHAR NOT NULL,
    size_bytes    BIGINT NOT NULL,
    stored_path   VARCHAR NOT NULL,         -- relative to the workspace folder
    received_at   TIMESTAMPTZ NOT NULL,
    received_by   VARCHAR NOT NULL
);

CREATE TABLE ingest_runs (
    run_id           BIGINT PRIMARY KEY,
    kind             VARCHAR NOT NULL,      -- ingest | retry
    evidence_sha256  VARCHAR NOT NULL,
    mapping          VARCHAR NOT NULL,      -- mapping name
    mapping_origin   VARCHAR NOT NULL,      -- builtin:NAME or the YAML path
    mapping_sha256   VARCHAR NOT NULL,      -- fingerprint of the mapping content
    compartment      VARCHAR NOT NULL,
    actor            VARCHAR NOT NULL,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ NOT NULL,
    rows_read        BIGINT NOT NULL,
    rows_stored      BIGINT NOT NULL,
    rows_duplicate   BIGINT NOT NULL,       -- already in the workspace (same event id, same content)
    rows_quarantined BIGINT NOT NULL,
    statements       BIGINT NOT NULL,
    params           JSON,
    code_version     VARCHAR NOT NULL
);

CREATE TABLE quarantine (
    id              BIGINT PRIMARY KEY,
    run_id          BIGINT NOT NULL,
    evidence_sha256 VARCHAR NOT NULL,
    file_name       VARCHAR NOT NULL,
    source_row      BIGINT,                 -- row in the file (spreadsheet numbering: header is 1)
    field           VARCHAR,                -- first failing field (all of them in errors)
    reason          VARCHAR NOT NULL,
    errors          JSON,                   -- [{field, column, reason}]
    raw             VARCHAR,                -- the record as read (truncated past 64 KiB)
    compartment     VARCHAR NOT NULL,
    status          VARCHAR NOT NULL,       -- open | resolved | superseded
    closed_by_run   BIGINT
);

-- Event and statement tables carry no PRIMARY KEY: an ART index over hundreds of millions of rows
-- would have to sit in memory. The loader keeps ids unique (anti-join) and tests check it.
CREATE TABLE statements (
    id              VARCHAR NOT NULL,    -- md5(entity|prop|value|compartment|evidence): stable on reload
    entity_id       VARCHAR NOT NULL,
    schema          VARCHAR NOT NULL,       -- FtM schema name
    prop            VARCHAR NOT NULL,       -- FtM property ('id' marks the entity itself)
    value           VARCHAR NOT NULL,       -- normalised value as stored (names: as written)
    original        VARCHAR,                -- the raw text in the source
    normalised      VARCHAR,                -- names: normalised form (same script)
    translit        VARCHAR,                -- names: ASCII transliteration
    compartment     VARCHAR NOT NULL,
    evidence_sha256 VARCHAR NOT NULL,
    source_row      BIGINT,                 -- first row in the file that gave this value
    run_id          BIGINT NOT NULL,
    confidence      DOUBLE NOT NULL DEFAULT 1.0
);

CREATE TABLE payments (
    id               VARCHAR NOT NULL,
    source_id        VARCHAR,
    occurred_at      TIMESTAMPTZ NOT NULL,
    payer_id         VARCHAR,
    payer_account_id VARCHAR,
    payer_account    VARCHAR,
    payee_id         VARCHAR,
    payee_account_id VARCHAR,
    payee_account    VARCHAR,
    amount           DECIMAL(20,4) NOT NULL,
    currency         VARCHAR NOT NULL,
    amount_eur       DECIMAL(20,4),
    payer_country    VARCHAR,
    payee_country    VARCHAR,
    payment_type     VARCHAR,
    reference        VARCHAR,
    compartment      VARCHAR NOT NULL,
    evidence_sha256  VARCHAR NOT NULL,
    source_row       BIGINT,
    run_id           BIGINT NOT NULL
);

CREATE TABLE calls (
    id              VARCHAR NOT NULL,
    source_id       VARCHAR,
    started_at      TIMESTAMPTZ NOT NULL,
    caller          VARCHAR NOT NULL,
    callee          VARCHAR NOT NULL,
    duration_s      BIGINT,
    caller_cell     VARCHAR,
    callee_cell     VARCHAR,
    call_type       VARCHAR,
    compartment     VARCHAR NOT NULL,
    evidence_sha256 VARCHAR NOT NULL,
    source_row      BIGINT,
    run_id          BIGINT NOT NULL
);

CREATE TABLE findings (
    id           VARCHAR PRIMARY KEY,
    kind         VARCHAR NOT NULL,          -- e.g. network.key_player, finance.fan_in, victims.flag
    subject_ids  VARCHAR[] NOT NULL,
    score        DOUBLE,
    explanation  VARCHAR NOT NULL,          -- human-readable: the rule and what fired it
    evidence     JSON,                      -- the rows that prove it: [{table, id}] or statements
    parameters   JSON,
    code_version VARCHAR NOT NULL,
    compartment  VARCHAR NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    run_id       BIGINT
);

CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    "at"      TIMESTAMPTZ NOT NULL,
    actor     VARCHAR NOT NULL,
    action    VARCHAR NOT NULL,
    target    VARCHAR,
    details   JSON,
    prev_hash VARCHAR NOT NULL,
    hash      VARCHAR NOT NULL               -- sha256(prev_hash + canonical JSON of this row)
);

