-- The W3C trace context of the event a delivery announces: each attempt
-- runs in that trace and sends it on (a webhook's `traceparent` header), so
-- a ticket's journey reads as one trace up to the receiver. Nullable
-- without a default, so adding them rewrites no row.
ALTER TABLE deliveries ADD COLUMN traceparent text, ADD COLUMN tracestate text;
