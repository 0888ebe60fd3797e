//! Analytics service tests against real PostgreSQL and NATS JetStream.

mod day;
mod helpers;
mod near;
mod paths;
mod spike;
mod week;
