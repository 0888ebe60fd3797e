//! Analytics service tests against real PostgreSQL and NATS JetStream.

mod day;
mod helpers;
mod spike;
