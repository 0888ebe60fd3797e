//! Routing on real PostgreSQL, Redis and NATS JetStream, with the ticket
//! service running in the same process.

mod assign;
mod concurrency;
mod drain;
mod escalation;
mod helpers;
mod presence;
mod seats;
mod store;
mod supervised;
mod tier;
