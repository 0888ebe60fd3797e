-- The transactional outbox: rows are written in the same transaction as the
-- change they announce, and the relay publishes then deletes them in `seq`
-- order.
CREATE TABLE outbox (
    seq               BIGSERIAL PRIMARY KEY,
    event_id          UUID        NOT NULL UNIQUE,
    -- `<tenant>.<aggregate>.<event>`; the relay prepends the subject prefix.
    subject           TEXT        NOT NULL,
    aggregate_id      TEXT        NOT NULL,
    aggregate_version BIGINT      NOT NULL,
    -- The encoded `switchboard.events.v1.Envelope`.
    payload           BYTEA       NOT NULL,
    traceparent       TEXT,
    tracestate        TEXT,
    created_at        TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Events a durable consumer has applied, so redelivery changes nothing.
CREATE TABLE processed_events (
    consumer     TEXT        NOT NULL,
    event_id     UUID        NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
