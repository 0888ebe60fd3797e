-- What an audited call asked for and what came of it (JSON, secrets
-- redacted): the state after the change; the entry before it for the same
-- target holds the state before.
ALTER TABLE audit_events ADD COLUMN request jsonb, ADD COLUMN result jsonb;
