-- API tokens of integrations: only a SHA-256 of each secret is kept. A
-- rotated token's previous hash keeps working until previous_valid_until.
CREATE TABLE api_tokens (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    display_name text NOT NULL,
    scopes text[] NOT NULL,
    secret_hash bytea NOT NULL,
    secret_prefix text NOT NULL,
    previous_hash bytea,
    previous_valid_until timestamptz,
    expires_at timestamptz,
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

-- Names identify live tokens in the audit trail and in events.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (tenant, display_name)
    WHERE revoked_at IS NULL;
CREATE INDEX api_tokens_by_tenant ON api_tokens (tenant, created_at DESC);

-- Who changed which settings, rules, people and tokens, and how it ended.
-- Ids are UUIDv7, so id order is time order.
CREATE TABLE audit_events (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    occurred_at timestamptz NOT NULL,
    actor text NOT NULL,
    actor_kind text NOT NULL,
    actor_role text NOT NULL,
    method text NOT NULL,
    target text NOT NULL,
    outcome text NOT NULL
);

CREATE INDEX audit_events_by_tenant ON audit_events (tenant, id DESC);
