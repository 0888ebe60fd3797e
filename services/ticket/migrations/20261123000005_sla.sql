-- SLA policies per tenant, each ticket's SLA clocks, and the instant the
-- scanner must next look at a ticket.
CREATE TABLE sla_policies (
    tenant_id  TEXT        PRIMARY KEY,
    policy     BYTEA       NOT NULL,
    version    BIGINT      NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE tickets
    ADD COLUMN sla               JSONB       NOT NULL DEFAULT '{}',
    ADD COLUMN sla_next_check_at TIMESTAMPTZ;

CREATE INDEX tickets_sla_due ON tickets (sla_next_check_at) WHERE sla_next_check_at IS NOT NULL;
