-- Agents, groups, routing rules and the waiting queue of the routing service.
-- Presence, load and reservations live in Redis.

CREATE TABLE agents (
    tenant       text        NOT NULL,
    user_id      text        NOT NULL,
    display_name text        NOT NULL DEFAULT '',
    groups       text[]      NOT NULL DEFAULT '{}',
    skills       jsonb       NOT NULL DEFAULT '{}',
    languages    text[]      NOT NULL DEFAULT '{}',
    capacity     jsonb       NOT NULL DEFAULT '{}',
    version      bigint      NOT NULL DEFAULT 1,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, user_id)
);
CREATE INDEX agents_groups ON agents USING gin (groups);

CREATE TABLE groups (
    tenant     text        NOT NULL,
    id         text        NOT NULL,
    body       jsonb       NOT NULL,
    version    bigint      NOT NULL DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id)
);

-- The whole rule set, as the encoded `RoutingRules` message; validated on save.
CREATE TABLE routing_rules (
    tenant  text   PRIMARY KEY,
    rules   bytea  NOT NULL,
    version bigint NOT NULL
);

-- Tickets nobody could take yet. A replica leases rows while it tries them,
-- so two replicas never try the same ticket at once.
CREATE TABLE waiting (
    tenant      text        NOT NULL,
    ticket_id   uuid        NOT NULL,
    group_id    text        NOT NULL,
    priority    int         NOT NULL,
    sla_due     timestamptz,
    created_at  timestamptz NOT NULL,
    job         jsonb       NOT NULL,
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    lease_until timestamptz NOT NULL DEFAULT '-infinity',
    PRIMARY KEY (tenant, ticket_id)
);
CREATE INDEX waiting_order ON waiting (tenant, group_id, priority DESC, sla_due ASC NULLS LAST, created_at, ticket_id);
