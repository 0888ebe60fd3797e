//! End-to-end tests of the `switchboard` binary, run as a real process against
//! the local PostgreSQL and NATS, the way operators run it.

mod access;
mod authz;
mod census;
mod desk;
mod dynamic;
mod fanout;
mod findings;
mod fixture;
mod health;
mod limits;
mod mail_loop;
mod privacy;
mod requests;
mod serve;
mod sweep;
mod trace;

/// `message` with a bearer token, as every authenticated call needs.
fn authed<T>(message: T, token: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("an ASCII token"),
    );
    request
}
