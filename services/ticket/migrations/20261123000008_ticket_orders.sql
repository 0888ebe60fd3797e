-- Listing by priority (urgent first) and by last change.
ALTER TABLE tickets ADD COLUMN priority_rank SMALLINT GENERATED ALWAYS AS (
    CASE priority WHEN 'low' THEN 1 WHEN 'normal' THEN 2 WHEN 'high' THEN 3 WHEN 'urgent' THEN 4 ELSE 0 END
) STORED;
CREATE INDEX tickets_tenant_priority ON tickets (tenant_id, priority_rank DESC, created_at DESC, id DESC);
CREATE INDEX tickets_tenant_updated ON tickets (tenant_id, updated_at DESC, id DESC);
