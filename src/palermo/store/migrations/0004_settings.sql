-- Version 4: workspace settings (name -> value), e.g. the key that derives victims' pseudonyms.
-- Set once, never shown by any command.

CREATE TABLE settings (
    name    VARCHAR PRIMARY KEY,
    value   VARCHAR NOT NULL,
    set_at  TIMESTAMPTZ NOT NULL
);
