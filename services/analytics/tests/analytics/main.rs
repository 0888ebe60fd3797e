//! Analytics service tests against real PostgreSQL and NATS JetStream.

mod breach;
mod day;
mod helpers;
mod issues;
mod near;
mod paths;
mod privacy;
mod spike;
mod week;
