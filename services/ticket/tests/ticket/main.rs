//! The ticket service against real PostgreSQL and NATS JetStream.

mod api;
mod channels;
mod customers;
mod email;
mod email_fuzz;
mod helpers;
mod intake;
mod lifecycle;
mod outage;
mod sla;
mod store;
mod watch;
