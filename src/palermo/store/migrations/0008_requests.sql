-- Version 8: requests between partner agencies (issue 11). What one agency asks another to share,
-- under which legal basis, and how it was answered: by a package (its id) or declined (the reason).

CREATE TABLE requests (
    request_id   VARCHAR PRIMARY KEY,
    direction    VARCHAR NOT NULL,        -- sent (we asked) | received (we are asked)
    partner      VARCHAR NOT NULL,        -- the agency asked (sent) or asking (received)
    compartment  VARCHAR NOT NULL,        -- the compartment the request is about (the JIT's)
    subject      VARCHAR NOT NULL,        -- what is asked for, free text
    legal_basis  VARCHAR NOT NULL,
    reference    VARCHAR,
    created_at   TIMESTAMPTZ NOT NULL,    -- when the requester made it
    recorded_at  TIMESTAMPTZ NOT NULL,
    recorded_by  VARCHAR NOT NULL,
    status       VARCHAR NOT NULL,        -- pending | answered | declined
    package_id   VARCHAR,                 -- answered: the package that answered it
    answer       VARCHAR,                 -- declined: the reason given
    closed_at    TIMESTAMPTZ
);
