-- Version 6: the accounts of the web application and the REST API. A user has one role and is
-- granted compartments; the store filters every read by them (store/access.py). Passwords are
-- kept as argon2 hashes, sessions and API tokens as SHA-256 hashes of the secret the client
-- holds: a copy of this file gives no one a way in.

CREATE TABLE users (
    name          VARCHAR PRIMARY KEY,
    role          VARCHAR NOT NULL,
    password_hash VARCHAR NOT NULL,
    disabled      BOOLEAN NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    created_by    VARCHAR NOT NULL
);

CREATE TABLE grants (
    user_name   VARCHAR NOT NULL,
    compartment VARCHAR NOT NULL,
    granted_at  TIMESTAMPTZ NOT NULL,
    granted_by  VARCHAR NOT NULL,
    PRIMARY KEY (user_name, compartment)
);

CREATE TABLE sessions (
    token_sha256 VARCHAR PRIMARY KEY,
    user_name    VARCHAR NOT NULL,
    kind         VARCHAR NOT NULL,      -- session | token
    label        VARCHAR,               -- a token's purpose
    csrf         VARCHAR,               -- a browser session's CSRF token
    created_at   TIMESTAMPTZ NOT NULL,
    last_seen    TIMESTAMPTZ NOT NULL,
    expires_at   TIMESTAMPTZ NOT NULL,
    revoked      BOOLEAN NOT NULL
);

CREATE TABLE login_failures (
    user_name VARCHAR NOT NULL,
    client    VARCHAR NOT NULL,
    failed_at TIMESTAMPTZ NOT NULL
);
