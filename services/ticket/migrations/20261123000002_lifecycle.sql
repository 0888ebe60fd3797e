-- The full ticket: typed custom fields, followers, follow-up links, response
-- and solve times, satisfaction; messages with visibility, attachments,
-- mentions and idempotency keys; and the audit trail of every change.

ALTER TABLE tickets
    ADD COLUMN custom_fields     JSONB       NOT NULL DEFAULT '{}',
    ADD COLUMN followers         TEXT[]      NOT NULL DEFAULT '{}',
    ADD COLUMN follow_up_of      UUID        REFERENCES tickets (id),
    ADD COLUMN first_response_at TIMESTAMPTZ,
    ADD COLUMN solved_at         TIMESTAMPTZ,
    ADD COLUMN satisfaction      JSONB;

-- Filters agents use every minute.
CREATE INDEX tickets_tenant_status ON tickets (tenant_id, status, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_assignee ON tickets (tenant_id, assignee, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_group ON tickets (tenant_id, group_id, created_at DESC, id DESC);
CREATE INDEX tickets_tags ON tickets USING GIN (tags);

ALTER TABLE messages
    ADD COLUMN author_role TEXT   NOT NULL DEFAULT '',
    ADD COLUMN attachments JSONB  NOT NULL DEFAULT '[]',
    ADD COLUMN mentions    TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN request_id  TEXT;
CREATE UNIQUE INDEX messages_request ON messages (tenant_id, request_id)
    WHERE request_id IS NOT NULL;
CREATE INDEX messages_ticket_order ON messages (ticket_id, created_at, id);

CREATE TABLE ticket_changes (
    seq         BIGINT      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    tenant_id   TEXT        NOT NULL,
    ticket_id   UUID        NOT NULL REFERENCES tickets (id),
    version     BIGINT      NOT NULL,
    actor_kind  TEXT        NOT NULL,
    actor_id    TEXT        NOT NULL,
    actor_role  TEXT        NOT NULL,
    field       TEXT        NOT NULL,
    old_value   TEXT        NOT NULL,
    new_value   TEXT        NOT NULL,
    changed_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX ticket_changes_ticket ON ticket_changes (ticket_id, seq);
