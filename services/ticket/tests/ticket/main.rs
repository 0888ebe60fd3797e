//! The ticket service against real PostgreSQL and NATS JetStream.

mod api;
mod channels;
mod customers;
mod email;
mod email_fuzz;
mod helpers;
mod inbound_http;
mod intake;
mod lifecycle;
mod objects;
mod outage;
mod privacy;
mod s3_server;
mod security;
mod sla;
mod store;
mod watch;
