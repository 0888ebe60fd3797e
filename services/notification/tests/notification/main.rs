//! Notification service tests against real PostgreSQL and NATS JetStream,
//! with a real SMTP listener and real HTTP receivers started by the tests.

mod api;
mod batch;
mod claims;
mod egress;
mod email;
mod helpers;
mod inbox;
mod leaks;
mod privacy;
mod receiver;
mod rules;
mod webhooks;
use switchboard_testkit::smtp;
