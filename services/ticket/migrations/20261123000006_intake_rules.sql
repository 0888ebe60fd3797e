-- Each tenant's ordered intake rules, stored as their protobuf encoding.
CREATE TABLE intake_rules (
    tenant_id  TEXT        PRIMARY KEY,
    rules      BYTEA       NOT NULL,
    version    BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
