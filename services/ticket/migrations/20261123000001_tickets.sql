-- Tickets, their requesters and their messages. Every row carries its tenant;
-- every query filters by it.

CREATE TABLE customers (
    id           UUID        PRIMARY KEY,
    tenant_id    TEXT        NOT NULL,
    display_name TEXT        NOT NULL DEFAULT '',
    created_at   TIMESTAMPTZ NOT NULL
);

-- One row per way to reach a customer; the first match finds the profile.
CREATE TABLE customer_identities (
    tenant_id   TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('email', 'phone')),
    value       TEXT NOT NULL,
    customer_id UUID NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED,
    PRIMARY KEY (tenant_id, kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities (customer_id);

-- Ticket numbers come from one sequence: unique per installation, gaps allowed,
-- and no row lock shared by concurrent creates.
CREATE SEQUENCE ticket_number_seq;

CREATE TABLE tickets (
    id           UUID        PRIMARY KEY,
    tenant_id    TEXT        NOT NULL,
    number       BIGINT      NOT NULL DEFAULT nextval('ticket_number_seq') UNIQUE,
    subject      TEXT        NOT NULL,
    description  TEXT        NOT NULL,
    status       TEXT        NOT NULL,
    priority     TEXT        NOT NULL,
    channel      TEXT        NOT NULL,
    requester_id UUID        NOT NULL REFERENCES customers (id) DEFERRABLE INITIALLY DEFERRED,
    assignee     TEXT,
    group_id     TEXT,
    tags         TEXT[]      NOT NULL DEFAULT '{}',
    request_id   TEXT,
    version      BIGINT      NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (tenant_id, request_id)
);
CREATE INDEX tickets_tenant_created ON tickets (tenant_id, created_at DESC, id DESC);
CREATE INDEX tickets_requester ON tickets (tenant_id, requester_id);

CREATE TABLE messages (
    id          UUID        PRIMARY KEY,
    tenant_id   TEXT        NOT NULL,
    ticket_id   UUID        NOT NULL REFERENCES tickets (id),
    author_kind TEXT        NOT NULL,
    author_id   TEXT        NOT NULL,
    public      BOOLEAN     NOT NULL,
    body        TEXT        NOT NULL,
    channel     TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX messages_ticket ON messages (ticket_id, created_at);
