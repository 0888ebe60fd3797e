//! End-to-end tests of the `switchboard` binary, run as a real process against
//! the local PostgreSQL and NATS, the way operators run it.

mod serve;
