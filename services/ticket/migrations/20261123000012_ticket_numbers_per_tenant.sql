-- Ticket numbers count per tenant: one installation-wide sequence let a
-- tenant watch every other tenant's volume. Each tenant's counter row is
-- bumped by the statement that allocates a number, so numbers are unique per
-- tenant; existing tickets keep theirs and each counter goes on from its
-- tenant's highest.
CREATE TABLE ticket_numbers (
    tenant_id   TEXT   PRIMARY KEY,
    last_number BIGINT NOT NULL
);
INSERT INTO ticket_numbers (tenant_id, last_number)
    SELECT tenant_id, max(number) FROM tickets GROUP BY tenant_id;

ALTER TABLE tickets ALTER COLUMN number DROP DEFAULT;
ALTER TABLE tickets DROP CONSTRAINT tickets_number_key;
ALTER TABLE tickets ADD CONSTRAINT tickets_tenant_number UNIQUE (tenant_id, number);
DROP SEQUENCE ticket_number_seq;
