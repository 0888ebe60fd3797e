-- Idempotency keys belong to a caller and an operation, and remember what
-- the request asked (a SHA-256 fingerprint of its decoded input): a
-- client-chosen `request_id` such as `web-form-42` must never find another
-- caller's ticket or note. Until now keys were unique per tenant, on the
-- rows they made; those keys are not carried over (no principal or
-- fingerprint is known for them), so a retry that spans this upgrade makes a
-- new ticket or message.
CREATE TABLE idempotency_keys (
    tenant_id   TEXT        NOT NULL,
    -- `customer:<sub>`, `staff:<sub>`, or `channel:<kind>` for ids a channel
    -- provider assigned (an SMS provider id, an email's Message-ID).
    principal   TEXT        NOT NULL,
    -- The RPC, e.g. `CreateTicket`, `AddMessage`, `IngestSms`.
    operation   TEXT        NOT NULL,
    request_id  TEXT        NOT NULL,
    fingerprint BYTEA       NOT NULL,
    -- What the first request made: its ticket, and its message if any.
    ticket_id   UUID        NOT NULL,
    message_id  UUID,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (tenant_id, principal, operation, request_id)
);
-- For pruning old keys.
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

ALTER TABLE tickets DROP CONSTRAINT tickets_tenant_id_request_id_key;
DROP INDEX messages_request;
