//! The ticket service against real PostgreSQL and NATS JetStream.

mod api;
mod channels;
mod customers;
mod email;
mod helpers;
mod intake;
mod lifecycle;
mod outage;
mod sla;
mod store;
mod watch;
