//! Knowledge service tests against real PostgreSQL and NATS JetStream.

mod articles;
mod helpers;
mod privacy;
mod relevance;
mod search;
mod suggest;
