-- A tenant's switches over the default rules of who hears what, stored as
-- the rules turned off: every rule is on until an admin turns it off, so a
-- rule added later starts on everywhere.
CREATE TABLE notification_rules (
    tenant_id  text        PRIMARY KEY,
    disabled   text[]      NOT NULL DEFAULT '{}',
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
