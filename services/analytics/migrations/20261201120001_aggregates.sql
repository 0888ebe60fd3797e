-- Pre-aggregated read models, so a report over months reads a few hundred
-- rows instead of every fact, and no replica keeps facts in memory. All of
-- it is derived from `ticket_facts` and is rebuilt by the service: facts
-- without `samples` are picked up by its backfill.

-- The cache that caught replicas up by revision is gone.
DROP INDEX ticket_facts_by_rev;
ALTER TABLE ticket_facts DROP COLUMN rev;
DROP SEQUENCE fact_rev;

-- The fact's current values as columns (filters, the live queue, agent
-- load), and its contributions to the metrics: encoded `Samples`, each an
-- instant and what the ticket adds then (NULL: not aggregated yet).
ALTER TABLE ticket_facts
    ADD COLUMN as_of          TIMESTAMPTZ,
    ADD COLUMN unsolved       BOOLEAN,
    ADD COLUMN status         TEXT,
    ADD COLUMN merged         BOOLEAN,
    ADD COLUMN first_reply_at TIMESTAMPTZ,
    ADD COLUMN channel        TEXT,
    ADD COLUMN priority       TEXT,
    ADD COLUMN group_id       TEXT,
    ADD COLUMN assignee       TEXT,
    ADD COLUMN tags           TEXT[],
    ADD COLUMN samples        BYTEA;
CREATE INDEX ticket_facts_by_created ON ticket_facts (tenant_id, created_at, ticket_id);
CREATE INDEX ticket_facts_open ON ticket_facts (tenant_id, assignee) WHERE unsolved;
-- Every event rewrites its ticket's row; room on the page lets PostgreSQL
-- do that without touching the indexes when no indexed value changed.
ALTER TABLE ticket_facts SET (fillfactor = 80);

-- The UTC hours each ticket has samples in: the tickets to read for the
-- part of a range that is not a whole hour.
CREATE TABLE fact_hours (
    tenant_id TEXT        NOT NULL,
    hour      TIMESTAMPTZ NOT NULL,
    ticket_id UUID        NOT NULL,
    PRIMARY KEY (tenant_id, hour, ticket_id)
);

-- Sums of the samples of every ticket per period, dimension and key:
-- grain 0 is a UTC hour, 1 a day of the tenant's time zone (starting at
-- `start`); dim 0 is every ticket, then channel, priority, group,
-- assignee, tag, and the agent who wrote a public reply. One row holds
-- every key of its dimension (so a batch of events rewrites a few hundred
-- rows, not thousands): `nums` a count and a sum per measure and key,
-- `hist` the duration measures' histogram buckets per key (both encoded,
-- see the service's `codec` module; a key is '' for none, else '+' and the
-- value). Rows that come to nothing are deleted.
CREATE TABLE aggregates (
    tenant_id TEXT        NOT NULL,
    grain     SMALLINT    NOT NULL,
    dim       SMALLINT    NOT NULL,
    start     TIMESTAMPTZ NOT NULL,
    nums      BYTEA       NOT NULL,
    hist      BYTEA       NOT NULL,
    PRIMARY KEY (tenant_id, grain, dim, start)
);
