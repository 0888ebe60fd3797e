-- Which ticket each email Message-ID belongs to (received and sent), so a
-- reply threads by In-Reply-To / References, and a redelivered message is
-- recognised as the one already ingested.
CREATE TABLE email_threads (
    tenant_id  text        NOT NULL,
    message_id text        NOT NULL,
    ticket_id  uuid        NOT NULL,
    -- The desk's message made from it (NULL for Message-IDs the desk sent).
    message    uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, message_id)
);
