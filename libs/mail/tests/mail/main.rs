//! Integration tests for switchboard-mail: real-world MIME samples from
//! `tests/fixtures`, limits and errors, threading, and a proptest fuzz target.

mod classify;
mod errors;
mod fixtures;
mod fuzz;
mod helpers;
mod limits;
mod threading;
