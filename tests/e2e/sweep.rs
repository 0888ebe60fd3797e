//! The bad-input sweep of issue 18: every RPC, found by reflection, gets
//! garbage, NUL and invalid UTF-8 in each string field, unknown enum
//! numbers, bad paging and field masks and oversize messages. None may
//! answer INTERNAL or UNKNOWN, echo the input back in large error details, or
//! write anything when it refuses.

use std::time::Duration;

use bytes::Bytes;
use prost::Message;
use prost_reflect::{DynamicMessage, FieldDescriptor, Kind, MessageDescriptor, Value};
use switchboard_runtime::Role;
use tonic::Code;

use crate::{
    census::{Census, Counter},
    desk::Desk,
    dynamic::{self, Reply, Rpc},
    findings::Findings,
    fixture::{ADMIN_A, Fixture, TENANT_A},
    requests::{self, is_well_known},
};

/// `grpc.max_message_bytes` of the server under test.
const MAX_MESSAGE: usize = 1 << 20;
/// RPCs allowed larger messages than [`MAX_MESSAGE`] (issue 18: email intake
/// takes whole MIME messages), with their limit.
/// Most bytes of status message plus details one refusal may carry.
const MAX_ERROR_BYTES: usize = 8 << 10;
/// Invalid UTF-8: a lone continuation byte, a truncated sequence, 0xFF.
const BAD_UTF8: &[u8] = b"bad\x80\xc3\x28\xff";

/// What a case's answer must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    /// INVALID_ARGUMENT.
    Invalid,
    /// INVALID_ARGUMENT, or a refusal that comes first (a customer on a
    /// staff-only RPC).
    InvalidOrDenied,
    /// RESOURCE_EXHAUSTED or INVALID_ARGUMENT.
    TooLarge,
    /// Anything but a server error.
    NoServerError,
}

/// One bad request.
struct Case {
    /// What is wrong with it, e.g. `NUL in a string field`.
    kind: &'static str,
    /// The field it is wrong in, if one.
    field: Option<String>,
    body: Bytes,
    expect: Expect,
}

/// Fields of `desc` of a kind `pick` accepts, at top level and one level
/// down, as paths.
fn fields(desc: &MessageDescriptor, pick: fn(&Kind) -> bool) -> Vec<Vec<FieldDescriptor>> {
    let mut out = Vec::new();
    for field in desc.fields().filter(|f| !f.is_map()) {
        if pick(&field.kind()) {
            out.push(vec![field.clone()]);
        } else if let Kind::Message(inner) = field.kind()
            && !is_well_known(&field.kind())
        {
            for f in inner.fields().filter(|f| !f.is_map() && pick(&f.kind())) {
                out.push(vec![field.clone(), f]);
            }
        }
    }
    out
}

fn path_name(path: &[FieldDescriptor]) -> String {
    path.iter().map(|f| f.name()).collect::<Vec<_>>().join(".")
}

/// One value, as a field of this cardinality holds it.
fn one(field: &FieldDescriptor, value: Value) -> Value {
    if field.is_list() {
        Value::List(vec![value])
    } else {
        value
    }
}

/// `base` with the field at `path` set to `value`.
fn with(base: &DynamicMessage, path: &[FieldDescriptor], value: Value) -> DynamicMessage {
    let mut out = base.clone();
    match path {
        [field] => out.set_field(field, one(field, value)),
        [parent, field] => {
            let Kind::Message(desc) = parent.kind() else {
                unreachable!("a path goes through a message")
            };
            // Change one field of the message (or the first element) the
            // valid request already has, so that field is the only fault.
            let current = out.get_field(parent);
            let existing = match current.as_list() {
                Some(list) => list.first().and_then(Value::as_message),
                None => current.as_message(),
            };
            let mut inner = existing
                .cloned()
                .unwrap_or_else(|| DynamicMessage::new(desc));
            inner.set_field(field, one(field, value));
            out.set_field(parent, one(parent, Value::Message(inner)));
        }
        _ => unreachable!("paths are one or two fields long"),
    }
    out
}

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited field `number` holding `payload`, as on the wire.
fn wire(number: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 10);
    varint(u64::from(number) << 3 | 2, &mut out);
    varint(payload.len() as u64, &mut out);
    out.extend_from_slice(payload);
    out
}

/// `base` encoded, then the field at `path` once more holding `payload`
/// (the last value of a field wins; a sub-message merges).
fn appended(base: &DynamicMessage, path: &[FieldDescriptor], payload: &[u8]) -> Bytes {
    let inner = path
        .iter()
        .rev()
        .fold(payload.to_vec(), |acc, f| wire(f.number(), &acc));
    let mut out = base.encode_to_vec();
    out.extend_from_slice(&inner);
    out.into()
}

fn case(kind: &'static str, field: Option<String>, body: impl Into<Bytes>, expect: Expect) -> Case {
    Case {
        kind,
        field,
        body: body.into(),
        expect,
    }
}

/// Every bad request for `rpc`, derived from the valid `base`.
fn cases(rpc: &Rpc, base: &DynamicMessage, customer: bool) -> Vec<Case> {
    let desc = rpc.input();
    let strings = fields(&desc, |k| *k == Kind::String);
    let nul = if customer {
        Expect::InvalidOrDenied
    } else {
        Expect::Invalid
    };
    let mut out = vec![case(
        "not protobuf",
        None,
        &b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"[..],
        Expect::Invalid,
    )];
    // A customer gets the first string field only: enough to show the
    // refusal does not depend on who asks.
    let per_field = if customer {
        &strings[..strings.len().min(1)]
    } else {
        &strings[..]
    };
    for path in per_field {
        let name = Some(path_name(path));
        let body = with(base, path, Value::String("bad\0value".into())).encode_to_vec();
        out.push(case("NUL in a string field", name.clone(), body, nul));
        out.push(case(
            "invalid UTF-8 in a string field",
            name,
            appended(base, path, BAD_UTF8),
            Expect::Invalid,
        ));
    }
    if let Some(path) = strings.first() {
        let long = format!("{}\0", "x".repeat(512 << 10));
        let body = with(base, path, Value::String(long)).encode_to_vec();
        out.push(case(
            "512 KiB value with a NUL",
            Some(path_name(path)),
            body,
            nul,
        ));
    }
    if let Some(path) = strings.iter().find(|p| p.len() == 1 && p[0].is_list()) {
        let many = Value::List(vec![Value::String("\0".into()); 10_000]);
        let mut message = base.clone();
        message.set_field(&path[0], many);
        out.push(case(
            "10,000 NUL values",
            Some(path_name(path)),
            message.encode_to_vec(),
            nul,
        ));
    }
    // The server's own table of exceptions (raw email) over the test's limit.
    let limit = switchboard_proto::guard::EXCEPTIONS
        .iter()
        .find(|(name, _)| *name == desc.full_name())
        .map_or(MAX_MESSAGE, |(_, limit)| (*limit).max(MAX_MESSAGE));
    out.push(case(
        "oversize message",
        None,
        appended(base, &[], &wire(9_999, &vec![b'x'; limit + (64 << 10)])),
        Expect::TooLarge,
    ));
    if customer {
        return out;
    }
    for path in fields(&desc, |k| matches!(k, Kind::Enum(_))) {
        let body = with(base, &path, Value::EnumNumber(9_999)).encode_to_vec();
        out.push(case(
            "unknown enum number",
            Some(path_name(&path)),
            body,
            Expect::NoServerError,
        ));
    }
    if let Some(field) = desc.get_field_by_name("page_size") {
        for (size, expect) in [(-1, Expect::Invalid), (i32::MAX, Expect::NoServerError)] {
            let body = with(base, std::slice::from_ref(&field), Value::I32(size)).encode_to_vec();
            out.push(case(
                if size < 0 {
                    "page_size -1"
                } else {
                    "page_size 2^31-1"
                },
                Some("page_size".into()),
                body,
                expect,
            ));
        }
    }
    if let Some(field) = desc.get_field_by_name("page_token") {
        let value = Value::String("not-a-token-%%%".into());
        let body = with(base, std::slice::from_ref(&field), value).encode_to_vec();
        out.push(case(
            "malformed page_token",
            Some("page_token".into()),
            body,
            Expect::Invalid,
        ));
    }
    if let Some(field) = desc.get_field_by_name("update_mask")
        && let Kind::Message(mask) = field.kind()
    {
        let mut value = DynamicMessage::new(mask);
        value.set_field_by_name(
            "paths",
            Value::List(vec![Value::String("no_such_field".into())]),
        );
        let body = with(base, std::slice::from_ref(&field), Value::Message(value)).encode_to_vec();
        out.push(case(
            "unknown update_mask path",
            Some("update_mask".into()),
            body,
            Expect::Invalid,
        ));
    }
    out
}

/// Judges one answer.
fn judge(rpc: &Rpc, who: &str, case: &Case, reply: &Reply, wrote: &[String], out: &mut Findings) {
    let at = match &case.field {
        Some(field) => format!("{} [{field}] as {who}", rpc.name()),
        None => format!("{} as {who}", rpc.name()),
    };
    let mut fail = |problem: &str, detail: String| {
        out.add(
            format!("{}: {problem}", case.kind),
            format!("{at}: {detail}"),
        );
    };
    if matches!(reply.code, Code::Internal | Code::Unknown) {
        fail("server error", reply.summary());
    } else {
        let ok = match case.expect {
            Expect::Invalid => reply.code == Code::InvalidArgument,
            Expect::InvalidOrDenied => matches!(
                reply.code,
                Code::InvalidArgument | Code::PermissionDenied | Code::NotFound
            ),
            Expect::TooLarge => {
                matches!(reply.code, Code::ResourceExhausted | Code::InvalidArgument)
            }
            Expect::NoServerError => true,
        };
        if !ok {
            fail("wrong code", reply.summary());
        }
    }
    if reply.code == Code::InvalidArgument
        && let Some(field) = &case.field
    {
        let leaf = field.rsplit('.').next().unwrap_or(field);
        if !String::from_utf8_lossy(&reply.details).contains(leaf) {
            fail(
                "INVALID_ARGUMENT without a field violation naming the field",
                reply.summary(),
            );
        }
    }
    let error_bytes = reply.message.len() + reply.details.len();
    if error_bytes > MAX_ERROR_BYTES {
        fail(
            "error details too large",
            format!("{error_bytes} bytes ({:?})", reply.code),
        );
    }
    if reply.code != Code::Ok && !wrote.is_empty() {
        fail(
            "refused but wrote",
            format!("{:?} after {}", reply.code, wrote.join(", ")),
        );
    }
}

/// A caller of the sweep.
struct Who<'a> {
    label: &'static str,
    token: &'a str,
    customer: bool,
}

/// Runs `rpc`'s cases as `who`, each between two censuses; returns the last.
async fn sweep_rpc(
    desk: &Desk,
    counter: &Counter,
    mut before: Census,
    rpc: &Rpc,
    who: &Who<'_>,
    base: &DynamicMessage,
    out: &mut Findings,
) -> anyhow::Result<Census> {
    for case in cases(rpc, base, who.customer) {
        let reply = dynamic::call(&desk.channel, rpc, case.body.clone(), Some(who.token)).await;
        let after = if reply.code == Code::Ok {
            // Accepted: its effects may still be on their way.
            counter.settled(Duration::from_secs(10)).await?
        } else {
            counter.take().await?
        };
        let wrote = after.changes_since(&before);
        judge(rpc, who.label, &case, &reply, &wrote, out);
        before = if wrote.is_empty() || reply.code == Code::Ok {
            after
        } else {
            counter.settled(Duration::from_secs(10)).await?
        };
    }
    Ok(before)
}

#[tokio::test]
async fn bad_input_gets_invalid_argument_small_errors_and_writes_nothing() -> anyhow::Result<()> {
    let limit = MAX_MESSAGE.to_string();
    let desk = Desk::start(&[("SWITCHBOARD__GRPC__MAX_MESSAGE_BYTES", &limit)]).await?;
    let fixture = Fixture::create(&desk).await?;
    let counter = Counter::new(desk.world()).await?;
    let admin = desk.token(TENANT_A, ADMIN_A, Role::Admin);
    let customer = desk.token(TENANT_A, &fixture.markers.a1_email, Role::Customer);

    let callers = [
        Who {
            label: "admin",
            token: &admin,
            customer: false,
        },
        Who {
            label: "customer",
            token: &customer,
            customer: true,
        },
    ];
    let mut failures = Findings::default();
    let mut census = counter.settled(Duration::from_secs(30)).await?;
    let rpcs = dynamic::rpcs();
    for rpc in &rpcs {
        let values = match requests::fresh(rpc) {
            Some(kind) => {
                let fresh = fixture.values.with(fixture.fresh(&desk, kind).await?);
                census = counter.settled(Duration::from_secs(10)).await?;
                fresh
            }
            None => fixture.values.clone(),
        };
        let base = requests::build(rpc, &values)?.message;
        for who in &callers {
            census = sweep_rpc(&desk, &counter, census, rpc, who, &base, &mut failures).await?;
        }
    }
    desk.stop().await?;

    println!("bad-input sweep: {} RPCs{}", rpcs.len(), failures.report());
    assert_eq!(
        failures.failures(),
        0,
        "{} failures:{}",
        failures.failures(),
        failures.report()
    );
    Ok(())
}
