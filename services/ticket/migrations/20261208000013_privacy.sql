-- Erased customers keep a pseudonymous profile (their tickets are kept for
-- statistics): `erased_at` marks it, and nothing personal remains on it.
ALTER TABLE customers ADD COLUMN erased_at TIMESTAMPTZ;

-- How long each tenant keeps closed tickets; no row keeps them forever.
CREATE TABLE retention_policies (
    tenant_id          TEXT        PRIMARY KEY,
    closed_ticket_days INTEGER     NOT NULL CHECK (closed_ticket_days >= 0),
    version            BIGINT      NOT NULL,
    updated_at         TIMESTAMPTZ NOT NULL
);

-- The retention task's scan: closed tickets by last change.
CREATE INDEX tickets_closed_by_update ON tickets (tenant_id, updated_at) WHERE status = 'closed';

-- Erasure and retention find a ticket's threading and idempotency keys by
-- ticket.
CREATE INDEX email_threads_ticket ON email_threads (ticket_id);
CREATE INDEX idempotency_keys_ticket ON idempotency_keys (ticket_id);
