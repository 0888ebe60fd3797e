-- Customer tiers and tags, for intake and routing rules.
ALTER TABLE customers
    ADD COLUMN tier TEXT   NOT NULL DEFAULT '',
    ADD COLUMN tags TEXT[] NOT NULL DEFAULT '{}';
