-- Subject terms for top issues (see `switchboard_kpi::terms`). Only a
-- created count is ever asked of a term, so terms get rows of their own
-- rather than a dimension in `aggregates` (whose keys carry every measure).
-- Terms are counted on a UTC grid: their counts do not depend on the
-- business calendar, so re-measuring leaves them alone.

-- Each ticket's terms as read from its subject at `ticket.created` (tickets
-- whose subject has none get no row). The first creation stored wins, so a
-- redelivered or stray second creation counts nothing; the tickets at the
-- edges of a range that are not whole hours are read from here.
CREATE TABLE ticket_terms (
    tenant_id  TEXT        NOT NULL,
    ticket_id  UUID        NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    terms      TEXT[]      NOT NULL,
    PRIMARY KEY (tenant_id, ticket_id)
);
CREATE INDEX ticket_terms_by_created ON ticket_terms (tenant_id, created_at);

-- Tickets created per period and term: grain 0 is a UTC hour, 1 a UTC day.
-- Counted when the ticket's row above is first written, so they always
-- equal the sum over `ticket_terms`.
CREATE TABLE term_volume (
    tenant_id TEXT        NOT NULL,
    grain     SMALLINT    NOT NULL,
    start     TIMESTAMPTZ NOT NULL,
    term      TEXT        NOT NULL,
    count     BIGINT      NOT NULL,
    PRIMARY KEY (tenant_id, grain, start, term)
);
