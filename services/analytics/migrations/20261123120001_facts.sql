-- The analytics read models, built only from events. `ticket_events` is the
-- source of truth (one row per applied event, so redelivery is a no-op by
-- primary key); everything else is folded from it and can be rebuilt.

-- Each ticket event the analytics service understood, mapped to the
-- `switchboard-kpi` event values it carries (usually one).
CREATE TABLE ticket_events (
    event_id    UUID        PRIMARY KEY,
    tenant_id   TEXT        NOT NULL,
    ticket_id   UUID        NOT NULL,
    version     BIGINT      NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    events      JSONB       NOT NULL
);
CREATE INDEX ticket_events_by_ticket ON ticket_events (tenant_id, ticket_id, version);

-- Bumped on every fact write, so replicas refresh their caches by `rev`.
CREATE SEQUENCE fact_rev;

-- One folded `TicketFact` per ticket whose creation has been seen.
CREATE TABLE ticket_facts (
    tenant_id  TEXT        NOT NULL,
    ticket_id  UUID        NOT NULL,
    -- Highest ticket version folded in.
    version    BIGINT      NOT NULL,
    rev        BIGINT      NOT NULL DEFAULT nextval('fact_rev'),
    created_at TIMESTAMPTZ NOT NULL,
    fact       JSONB       NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX ticket_facts_by_rev ON ticket_facts (tenant_id, rev);

-- Tickets created per UTC hour and key (`all`, `channel:email`, ...), for
-- spike detection against the same hour of past weeks.
CREATE TABLE volume_hours (
    tenant_id TEXT        NOT NULL,
    key       TEXT        NOT NULL,
    hour      TIMESTAMPTZ NOT NULL,
    count     BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, key, hour)
);

-- Per tenant: the first event seen (how much history spike detection has)
-- and the business calendar (an encoded `switchboard.ticket.v1.BusinessHours`;
-- NULL means around the clock in UTC).
CREATE TABLE tenants (
    tenant_id      TEXT        PRIMARY KEY,
    first_event_at TIMESTAMPTZ,
    business_hours BYTEA
);

-- Anomalies announced, one per window, so each is published once.
CREATE TABLE anomalies (
    tenant_id    TEXT             NOT NULL,
    kind         TEXT             NOT NULL,
    key          TEXT             NOT NULL,
    window_start TIMESTAMPTZ      NOT NULL,
    id           UUID             NOT NULL,
    observed     DOUBLE PRECISION NOT NULL,
    expected     DOUBLE PRECISION NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    detected_at  TIMESTAMPTZ      NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, key, window_start)
);
