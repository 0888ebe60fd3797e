-- Customers reachable by social handles and chat visitor ids, profiles that
-- can be merged, and a version for ordering customer events.

ALTER TABLE customer_identities DROP CONSTRAINT customer_identities_kind_check;
ALTER TABLE customer_identities
    ADD CONSTRAINT customer_identities_kind_check CHECK (kind IN ('email', 'phone', 'social', 'chat'));

ALTER TABLE customers
    ADD COLUMN merged_into UUID REFERENCES customers (id),
    ADD COLUMN version     BIGINT NOT NULL DEFAULT 1;

CREATE INDEX messages_tenant_ticket_time ON messages (tenant_id, ticket_id, created_at DESC, id DESC);
