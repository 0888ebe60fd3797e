-- Duplicate tickets merged into a survivor keep a link both ways.
ALTER TABLE tickets
    ADD COLUMN merged_into UUID REFERENCES tickets (id),
    ADD COLUMN merged_from UUID[] NOT NULL DEFAULT '{}';
