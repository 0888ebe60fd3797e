//! The codec every Switchboard RPC uses: prost, plus the input hygiene every
//! request gets before any handler sees it.
//!
//! Checking here, on the wire bytes and against the contracts' own
//! descriptors, makes the rules hold for every RPC at once, including RPCs
//! added later: a handler cannot forget them. A request is refused when
//! - it is larger than its size limit ([`max_request_bytes`]),
//! - it is not valid protobuf (`INVALID_ARGUMENT`, where prost's own codec
//!   says `INTERNAL`),
//! - any string in it, at any depth, is not UTF-8 or holds a NUL or another
//!   C0 control character other than tab, line feed and carriage return
//!   (PostgreSQL refuses NUL, and control characters have no business in a
//!   subject, a name or a search); the violation names the field.
//!
//! Only messages that some RPC takes as its request are checked, so clients
//! decoding answers with this codec never refuse what a server stored.

use std::{
    collections::{HashMap, HashSet},
    marker::PhantomData,
    sync::{
        LazyLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use bytes::Buf;
use prost::{Message, Name};
use prost_reflect::{DescriptorPool, Kind, MessageDescriptor};
use tonic::{
    Code, Status,
    codec::{BufferSettings, Codec, DecodeBuf, Decoder},
};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};

/// Size limit of a request without its own entry in [`EXCEPTIONS`], in bytes,
/// until the process sets it from its configuration.
pub const DEFAULT_MAX_REQUEST_BYTES: usize = 4 << 20;

/// Requests that may be larger than the configured limit, and how large: the
/// one place such exceptions are declared.
pub const EXCEPTIONS: &[(&str, usize)] = &[
    // A raw email with its attachments (providers cap mail at 25 MiB).
    ("switchboard.ticket.v1.IngestEmailRequest", 26 << 20),
];

/// Nesting deeper than this is refused (prost's own limit is 100).
const MAX_DEPTH: usize = 64;

static MAX_REQUEST: AtomicUsize = AtomicUsize::new(DEFAULT_MAX_REQUEST_BYTES);

/// Sets the size limit of every request without an exception (the process's
/// `grpc.max_message_bytes`).
pub fn set_max_request_bytes(limit: usize) {
    MAX_REQUEST.store(limit, Ordering::Relaxed);
}

/// The size limit of the request message `full_name`, in bytes.
pub fn max_request_bytes(full_name: &str) -> usize {
    let configured = MAX_REQUEST.load(Ordering::Relaxed);
    EXCEPTIONS
        .iter()
        .find(|(name, _)| *name == full_name)
        .map_or(configured, |(_, limit)| (*limit).max(configured))
}

/// The largest request any method of `service` (a fully qualified service
/// name) accepts: the transport's limit for that service, so nothing larger
/// is ever buffered.
pub fn service_max_request_bytes(service: &str) -> usize {
    let configured = MAX_REQUEST.load(Ordering::Relaxed);
    SCHEMA
        .pool
        .get_service_by_name(service)
        .into_iter()
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|m| max_request_bytes(m.input().full_name()))
        .fold(configured, usize::max)
}

struct Schema {
    pool: DescriptorPool,
    requests: HashSet<String>,
}

static SCHEMA: LazyLock<Schema> = LazyLock::new(|| {
    let pool = DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set is valid");
    let requests = pool
        .services()
        .flat_map(|s| {
            s.methods()
                .map(|m| m.input().full_name().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    Schema { pool, requests }
});

/// A request's descriptor, or `None` when the message is not a request.
fn request_descriptor(full_name: &str) -> Option<MessageDescriptor> {
    static CACHE: LazyLock<HashMap<String, MessageDescriptor>> = LazyLock::new(|| {
        SCHEMA
            .requests
            .iter()
            .filter_map(|n| Some((n.clone(), SCHEMA.pool.get_message_by_name(n)?)))
            .collect()
    });
    CACHE.get(full_name).cloned()
}

/// Why a request's bytes were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A string field holds a forbidden character or is not UTF-8.
    Field {
        /// Dotted path of the field, e.g. `requester.email`.
        field: String,
        /// Why.
        reason: &'static str,
    },
    /// The bytes are not a protobuf message.
    Malformed(&'static str),
}

/// Checks the encoded request `bytes` against `message`'s descriptor.
pub fn check(message: &MessageDescriptor, bytes: &[u8]) -> Result<(), Refusal> {
    walk(message, bytes, 0)
}

/// The path of a refused field is built only on the way out of a refusal, so
/// a clean request costs no allocation.
fn walk(message: &MessageDescriptor, mut bytes: &[u8], depth: usize) -> Result<(), Refusal> {
    if depth > MAX_DEPTH {
        return Err(Refusal::Malformed("messages nested too deeply"));
    }
    while !bytes.is_empty() {
        let tag = varint(&mut bytes)?;
        let number = u32::try_from(tag >> 3).map_err(|_| Refusal::Malformed("bad field number"))?;
        match tag & 7 {
            0 => {
                varint(&mut bytes)?;
            }
            1 => skip(&mut bytes, 8)?,
            5 => skip(&mut bytes, 4)?,
            2 => {
                let len = usize::try_from(varint(&mut bytes)?)
                    .map_err(|_| Refusal::Malformed("length too large"))?;
                let value = bytes
                    .get(..len)
                    .ok_or(Refusal::Malformed("length past the end"))?;
                bytes = &bytes[len..];
                let Some(field) = message.get_field(number) else {
                    continue;
                };
                let refused = match field.kind() {
                    Kind::String => string_problem(value).map(|reason| Refusal::Field {
                        field: String::new(),
                        reason,
                    }),
                    Kind::Message(inner) => walk(&inner, value, depth + 1).err(),
                    _ => None,
                };
                match refused {
                    None => {}
                    Some(Refusal::Field {
                        field: inner,
                        reason,
                    }) => {
                        let field = if inner.is_empty() {
                            field.name().to_owned()
                        } else {
                            format!("{}.{inner}", field.name())
                        };
                        return Err(Refusal::Field { field, reason });
                    }
                    Some(malformed) => return Err(malformed),
                }
            }
            _ => return Err(Refusal::Malformed("unsupported wire type")),
        }
    }
    Ok(())
}

/// What is wrong with a string field's bytes, if anything.
fn string_problem(value: &[u8]) -> Option<&'static str> {
    if std::str::from_utf8(value).is_err() {
        return Some("must be valid UTF-8");
    }
    if value
        .iter()
        .any(|&b| b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r'))
    {
        return Some("must not contain NUL or control characters other than tab and newline");
    }
    None
}

fn varint(bytes: &mut &[u8]) -> Result<u64, Refusal> {
    prost::encoding::decode_varint(bytes).map_err(|_| Refusal::Malformed("bad varint"))
}

fn skip(bytes: &mut &[u8], n: usize) -> Result<(), Refusal> {
    if bytes.len() < n {
        return Err(Refusal::Malformed("field past the end"));
    }
    *bytes = &bytes[n..];
    Ok(())
}

/// INVALID_ARGUMENT naming `field`, with `google.rpc.BadRequest` details.
fn field_status(field: &str, reason: &str) -> Status {
    let mut details = ErrorDetails::new();
    details.add_bad_request_violation(field, reason);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("invalid request: {field}: {reason}"),
        details,
    )
}

/// Refuses `bytes` of the message type `full_name` when they break the rules.
fn guard(full_name: &str, bytes: &[u8]) -> Result<(), Status> {
    let Some(descriptor) = request_descriptor(full_name) else {
        return Ok(());
    };
    let limit = max_request_bytes(full_name);
    if bytes.len() > limit {
        return Err(Status::resource_exhausted(format!(
            "request of {} bytes is larger than the {limit} bytes allowed",
            bytes.len()
        )));
    }
    check(&descriptor, bytes).map_err(|refusal| match refusal {
        Refusal::Field { field, reason } => field_status(&field, reason),
        Refusal::Malformed(why) => {
            Status::invalid_argument(format!("request is not a valid protobuf message: {why}"))
        }
    })
}

/// prost's codec with the request checks of this module.
#[derive(Debug, Clone, Copy)]
pub struct GuardedCodec<T, U>(PhantomData<(T, U)>);

impl<T, U> Default for GuardedCodec<T, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<T, U> Codec for GuardedCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Name + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = GuardedDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        GuardedDecoder(PhantomData)
    }
}

/// Decodes `U` after [`GuardedCodec`]'s checks.
#[derive(Debug, Clone, Copy)]
pub struct GuardedDecoder<U>(PhantomData<U>);

impl<U: Message + Name + Default> Decoder for GuardedDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        let full_name = U::full_name();
        if buf.chunk().len() == buf.remaining() {
            guard(&full_name, buf.chunk())?;
        } else {
            // DecodeBuf is one contiguous buffer today; stay correct if not.
            let bytes = buf.copy_to_bytes(buf.remaining());
            guard(&full_name, &bytes)?;
            return U::decode(bytes).map(Some).map_err(|e| decode_error(&e));
        }
        U::decode(buf).map(Some).map_err(|e| decode_error(&e))
    }

    fn buffer_settings(&self) -> BufferSettings {
        BufferSettings::default()
    }
}

fn decode_error(err: &prost::DecodeError) -> Status {
    // prost's own codec says INTERNAL; bytes a caller sent are its mistake.
    Status::invalid_argument(format!("request is not a valid protobuf message: {err}"))
}

#[cfg(test)]
mod tests;
