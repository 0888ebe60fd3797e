//! Fixture loading shared by the test modules.

use std::path::PathBuf;

use switchboard_mail::{InboundEmail, Limits, parse};

/// Directory of the `.eml` fixtures.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Raw bytes of one fixture.
pub fn raw(name: &str) -> Vec<u8> {
    let path = fixtures_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Every fixture as (file name, bytes), sorted by name.
pub fn all_fixtures() -> Vec<(String, Vec<u8>)> {
    let mut names: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures dir")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|n| {
            let bytes = raw(&n);
            (n, bytes)
        })
        .collect()
}

/// A fixture parsed with default limits; panics with the error otherwise.
pub fn fixture(name: &str) -> InboundEmail {
    parse(&raw(name), &Limits::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A message built from header lines and a body, parsed with default limits.
pub fn message(headers: &[&str], body: &str) -> InboundEmail {
    let raw = build(headers, body);
    parse(raw.as_bytes(), &Limits::default()).unwrap_or_else(|e| panic!("{e}: {raw}"))
}

/// Header lines and a body joined as CRLF mail.
pub fn build(headers: &[&str], body: &str) -> String {
    let mut raw = headers.join("\r\n");
    raw.push_str("\r\n\r\n");
    raw.push_str(&body.replace('\n', "\r\n"));
    raw
}

/// The same bytes with every bare LF turned into CRLF, as SMTP delivers them.
pub fn to_crlf(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 20);
    let mut previous = 0u8;
    for &b in raw {
        if b == b'\n' && previous != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        previous = b;
    }
    out
}
