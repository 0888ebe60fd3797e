-- The requester's service tier as it was when the ticket was opened, so
-- routing rules can test `customer.tier` from the ticket events alone
-- (a later change of the customer's tier does not re-route open tickets).
ALTER TABLE tickets ADD COLUMN requester_tier TEXT NOT NULL DEFAULT '';
