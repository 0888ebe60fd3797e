//! The ticket service against real PostgreSQL and NATS JetStream.

mod api;
mod helpers;
mod outage;
mod store;
