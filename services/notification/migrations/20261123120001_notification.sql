-- Customer name -> email address, projected from events that carry one
-- (the service never reads the ticket service's tables).
CREATE TABLE contacts (
    tenant_id text NOT NULL,
    customer  text NOT NULL,
    email     text NOT NULL,
    locale    text NOT NULL DEFAULT 'en',
    PRIMARY KEY (tenant_id, customer)
);

-- One row per (event, recipient, channel): the idempotency key that makes a
-- redelivered event notify nobody twice. `seq` is the in-app cursor.
CREATE TABLE notifications (
    seq        bigserial   PRIMARY KEY,
    id         uuid        NOT NULL UNIQUE,
    tenant_id  text        NOT NULL,
    event_id   uuid        NOT NULL,
    event_type text        NOT NULL,
    recipient  text        NOT NULL,
    channel    text        NOT NULL CHECK (channel IN ('in_app', 'email', 'webhook')),
    title      text        NOT NULL DEFAULT '',
    body       text        NOT NULL DEFAULT '',
    ticket     text        NOT NULL DEFAULT '',
    read_at    timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient, channel)
);
CREATE INDEX notifications_inbox ON notifications (tenant_id, recipient, seq)
    WHERE channel = 'in_app';
CREATE INDEX notifications_unread ON notifications (tenant_id, recipient)
    WHERE channel = 'in_app' AND read_at IS NULL;

CREATE TABLE webhooks (
    id          uuid        PRIMARY KEY,
    tenant_id   text        NOT NULL,
    url         text        NOT NULL,
    event_types text[]      NOT NULL DEFAULT '{}',
    secret      text        NOT NULL,
    active      boolean     NOT NULL DEFAULT true,
    description text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhooks_tenant ON webhooks (tenant_id) WHERE active;

-- Email and webhook deliveries with their retry state; the id is stable
-- across retries (the webhook's `Switchboard-Delivery` header).
CREATE TABLE deliveries (
    id              uuid        PRIMARY KEY,
    notification_id uuid        NOT NULL REFERENCES notifications (id) ON DELETE CASCADE,
    tenant_id       text        NOT NULL,
    channel         text        NOT NULL CHECK (channel IN ('email', 'webhook')),
    webhook_id      uuid        REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id        uuid        NOT NULL,
    event_type      text        NOT NULL,
    target          text        NOT NULL,
    ticket          text        NOT NULL DEFAULT '',
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'delivered', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0,
    max_attempts    integer     NOT NULL,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text        NOT NULL DEFAULT '',
    last_status     integer     NOT NULL DEFAULT 0,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_log ON deliveries (webhook_id, created_at DESC, id DESC);

CREATE TABLE templates (
    tenant_id  text        NOT NULL,
    kind       text        NOT NULL,
    locale     text        NOT NULL,
    subject    text        NOT NULL,
    text_body  text        NOT NULL,
    html_body  text        NOT NULL,
    version    bigint      NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant_id, kind, locale)
);

CREATE TABLE preferences (
    tenant_id         text   NOT NULL,
    user_id           text   NOT NULL,
    muted_event_types text[] NOT NULL DEFAULT '{}',
    muted_channels    text[] NOT NULL DEFAULT '{}',
    quiet_start       integer,
    quiet_end         integer,
    time_zone         text   NOT NULL DEFAULT '',
    version           bigint NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
