//! Any Switchboard RPC, found by reflection and called with raw bytes, so a
//! test covers every RPC the contracts declare, including ones added later.

use std::{sync::LazyLock, time::Duration};

use bytes::{Buf, BufMut, Bytes};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use tokio_stream::StreamExt;
use tonic::{
    Code, Status,
    codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder},
    codegen::http::uri::PathAndQuery,
    transport::Channel,
};

/// Every Switchboard message, service and method.
pub static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(switchboard_proto::FILE_DESCRIPTOR_SET)
        .expect("the descriptor set decodes")
});

/// How long a server stream is read before the call is dropped.
const STREAM_WINDOW: Duration = Duration::from_millis(400);
/// Most stream items kept from one call.
const STREAM_ITEMS: usize = 8;

/// One RPC of a `switchboard.*` service.
#[derive(Debug, Clone)]
pub struct Rpc {
    method: MethodDescriptor,
}

impl Rpc {
    /// `switchboard.ticket.v1.TicketService/GetTicket`.
    pub fn name(&self) -> String {
        format!(
            "{}/{}",
            self.method.parent_service().full_name(),
            self.method.name()
        )
    }

    /// The method's short name, e.g. `GetTicket`.
    pub fn method(&self) -> &str {
        self.method.name()
    }

    /// The request message type.
    pub fn input(&self) -> MessageDescriptor {
        self.method.input()
    }

    /// The response message type.
    pub fn output(&self) -> MessageDescriptor {
        self.method.output()
    }

    /// Whether the server answers with a stream.
    pub fn streams(&self) -> bool {
        self.method.is_server_streaming()
    }

    fn path(&self) -> PathAndQuery {
        format!("/{}", self.name())
            .parse()
            .expect("a method path is a valid URI path")
    }
}

/// Every method of every `switchboard.*` service, sorted by name.
pub fn rpcs() -> Vec<Rpc> {
    let mut out: Vec<Rpc> = POOL
        .services()
        .filter(|s| s.full_name().starts_with("switchboard."))
        .flat_map(|s| s.methods().collect::<Vec<_>>())
        .map(|method| Rpc { method })
        .collect();
    out.sort_by_key(Rpc::name);
    out
}

/// The RPC named `name` (`package.Service/Method`).
pub fn rpc(name: &str) -> Rpc {
    rpcs()
        .into_iter()
        .find(|r| r.name() == name)
        .unwrap_or_else(|| panic!("no RPC {name}"))
}

/// What the server said to one call.
#[derive(Debug, Clone)]
pub struct Reply {
    /// `Code::Ok` when the call (and the part of the stream read) succeeded.
    pub code: Code,
    /// The status message; empty on success.
    pub message: String,
    /// `grpc-status-details-bin`, decoded from base64.
    pub details: Bytes,
    /// The response message, or the stream items read.
    pub items: Vec<Bytes>,
}

impl Reply {
    fn failed(status: &Status, items: Vec<Bytes>) -> Self {
        Self {
            code: status.code(),
            message: status.message().to_owned(),
            details: status.details().to_vec().into(),
            items,
        }
    }

    /// Every byte the server produced: the messages, the status message and
    /// its details.
    pub fn said(&self) -> impl Iterator<Item = &[u8]> {
        self.items
            .iter()
            .map(|b| b.as_ref())
            .chain([self.message.as_bytes(), self.details.as_ref()])
    }

    /// Whether `needle` occurs anywhere in what the server said.
    pub fn mentions(&self, needle: &str) -> bool {
        let needle = needle.as_bytes();
        self.said()
            .any(|hay| hay.windows(needle.len()).any(|w| w == needle))
    }

    /// `CODE: message` (the message shortened), for failure lists.
    pub fn summary(&self) -> String {
        let message: String = self.message.chars().take(160).collect();
        format!("{:?}: {message}", self.code)
    }
}

/// Calls `rpc` with the encoded request `body` (and `token` as a bearer
/// token, when given). A server stream is read for a short window, then
/// dropped.
pub async fn call(channel: &Channel, rpc: &Rpc, body: Bytes, token: Option<&str>) -> Reply {
    let mut request = tonic::Request::new(body);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("an ASCII token"),
        );
    }
    request.set_timeout(Duration::from_secs(20));
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    if let Err(e) = grpc.ready().await {
        return Reply::failed(&Status::unavailable(e.to_string()), Vec::new());
    }
    if !rpc.streams() {
        return match grpc.unary(request, rpc.path(), RawCodec).await {
            Ok(response) => Reply {
                code: Code::Ok,
                message: String::new(),
                details: Bytes::new(),
                items: vec![response.into_inner()],
            },
            Err(status) => Reply::failed(&status, Vec::new()),
        };
    }
    let mut stream = match grpc.server_streaming(request, rpc.path(), RawCodec).await {
        Ok(response) => response.into_inner(),
        Err(status) => return Reply::failed(&status, Vec::new()),
    };
    let mut items = Vec::new();
    let window = tokio::time::sleep(STREAM_WINDOW);
    tokio::pin!(window);
    while items.len() < STREAM_ITEMS {
        tokio::select! {
            _ = &mut window => break,
            next = stream.next() => match next {
                Some(Ok(item)) => items.push(item),
                Some(Err(status)) => return Reply::failed(&status, items),
                None => break,
            },
        }
    }
    Reply {
        code: Code::Ok,
        message: String::new(),
        details: Bytes::new(),
        items,
    }
}

/// The request `json` (protobuf JSON mapping) as a message of type `desc`.
pub fn from_json(
    desc: MessageDescriptor,
    json: &serde_json::Value,
) -> anyhow::Result<DynamicMessage> {
    let name = desc.full_name().to_owned();
    DynamicMessage::deserialize(desc, json)
        .map_err(|e| anyhow::anyhow!("{name} does not take {json}: {e}"))
}

/// Passes encoded messages through untouched, so a test can send bytes no
/// generated client would.
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCodec;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
