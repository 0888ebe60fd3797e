-- Who the service has seen as the desk's staff (acting with a staff token,
-- or an agent of routing) or as a customer, per tenant: in-app
-- notifications go to known staff only. A user id ever seen as a customer
-- stays one (`staff` only ever goes from true to false).
CREATE TABLE people (
    tenant_id text    NOT NULL,
    user_id   text    NOT NULL,
    staff     boolean NOT NULL,
    PRIMARY KEY (tenant_id, user_id)
);
