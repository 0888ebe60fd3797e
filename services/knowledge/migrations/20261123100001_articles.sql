-- Articles, their categories, every version, and readers' votes. PostgreSQL
-- is the source of truth; each replica's search index is rebuilt from here.

CREATE TABLE categories (
    tenant      text        NOT NULL,
    id          uuid        NOT NULL,
    parent_id   uuid,
    title       text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    position    integer     NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (tenant, id),
    FOREIGN KEY (tenant, parent_id) REFERENCES categories (tenant, id)
);

-- Every change to an article (content, status, votes) takes the next value,
-- so an index replica can ignore a stale re-read.
CREATE SEQUENCE article_revisions;

CREATE TABLE articles (
    tenant          text        NOT NULL,
    id              uuid        NOT NULL,
    version         bigint      NOT NULL,
    revision        bigint      NOT NULL DEFAULT nextval('article_revisions'),
    status          text        NOT NULL CHECK (status IN ('draft', 'published', 'archived')),
    title           text        NOT NULL,
    summary         text        NOT NULL,
    body            text        NOT NULL,
    locale          text        NOT NULL,
    tags            text[]      NOT NULL,
    category_id     uuid,
    internal        boolean     NOT NULL,
    promoted        boolean     NOT NULL,
    translation_set uuid        NOT NULL,
    author          text        NOT NULL,
    updated_by      text        NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    published_at    timestamptz,
    helpful         bigint      NOT NULL DEFAULT 0,
    not_helpful     bigint      NOT NULL DEFAULT 0,
    views           bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, translation_set, locale),
    FOREIGN KEY (tenant, category_id) REFERENCES categories (tenant, id)
);

CREATE INDEX articles_by_change ON articles (tenant, updated_at DESC, id DESC);

CREATE TABLE article_versions (
    tenant         text        NOT NULL,
    article_id     uuid        NOT NULL,
    version        bigint      NOT NULL,
    status         text        NOT NULL,
    title          text        NOT NULL,
    summary        text        NOT NULL,
    body           text        NOT NULL,
    locale         text        NOT NULL,
    tags           text[]      NOT NULL,
    category_id    uuid,
    internal       boolean     NOT NULL,
    promoted       boolean     NOT NULL,
    changed_fields text[]      NOT NULL,
    restored_from  bigint,
    author         text        NOT NULL,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (tenant, article_id, version),
    FOREIGN KEY (tenant, article_id) REFERENCES articles (tenant, id)
);

CREATE TABLE article_votes (
    tenant     text        NOT NULL,
    article_id uuid        NOT NULL,
    user_id    text        NOT NULL,
    helpful    boolean     NOT NULL,
    voted_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant, article_id, user_id),
    FOREIGN KEY (tenant, article_id) REFERENCES articles (tenant, id)
);
