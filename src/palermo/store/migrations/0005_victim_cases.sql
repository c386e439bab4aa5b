-- Version 5: victims' cases along the National Referral Mechanism. A case is a person of the
-- workspace; what happens to it is an append-only list of events (stage decisions, consent
-- given or revoked, referrals to a service provider, notes), each with who recorded it and when
-- it took effect. The state of a case is derived from its events; nothing is overwritten.

CREATE TABLE victim_cases (
    case_id     VARCHAR PRIMARY KEY,   -- VC-000001
    person      VARCHAR NOT NULL,      -- the person's node (entity id) in this workspace
    compartment VARCHAR NOT NULL,      -- the caller's compartments when opened, joined by +
    opened_at   TIMESTAMPTZ NOT NULL,
    opened_by   VARCHAR NOT NULL
);

CREATE TABLE victim_case_events (
    case_id     VARCHAR NOT NULL,
    seq         INTEGER NOT NULL,      -- 1, 2, ... within the case
    recorded_at TIMESTAMPTZ NOT NULL,
    effective   DATE NOT NULL,         -- the day it took effect (a decision's date)
    actor       VARCHAR NOT NULL,
    kind        VARCHAR NOT NULL,      -- stage | consent | referral | note
    value       VARCHAR,               -- the stage, given/revoked, the provider
    details     JSON
);

CREATE TABLE service_providers (
    name        VARCHAR PRIMARY KEY,
    services    VARCHAR[] NOT NULL,    -- shelter, health, legal, psychological, ...
    area        VARCHAR,
    contact     VARCHAR,
    added_at    TIMESTAMPTZ NOT NULL,
    added_by    VARCHAR NOT NULL
);
