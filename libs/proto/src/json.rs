//! A request or response of a Switchboard method as JSON, for the audit
//! trail: decoded with the embedded descriptors, secrets redacted, bounded.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor};
use serde_json::Value;

/// Longest JSON kept, in bytes; a larger message is summarised.
pub const MAX_JSON_BYTES: usize = 16 * 1024;
/// What stands in for a redacted value.
pub const REDACTED: &str = "[redacted]";

static POOL: LazyLock<DescriptorPool> = LazyLock::new(|| {
    DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET)
        .expect("the embedded descriptor set is valid")
});

/// Which message of a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// What the caller sent.
    Request,
    /// What the server answered.
    Response,
}

fn method(path: &str) -> Option<MethodDescriptor> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    POOL.get_service_by_name(service)?
        .methods()
        .find(|m| m.name() == method)
}

/// The gRPC-framed unary message `framed` (5-byte prefix, uncompressed) of
/// `path` as JSON with secrets redacted; `None` when it cannot be read.
pub fn framed_to_json(path: &str, side: Side, framed: &[u8]) -> Option<Value> {
    let (&[compressed, a, b, c, d], body) = framed.split_first_chunk::<5>()?;
    let len = u32::from_be_bytes([a, b, c, d]) as usize;
    if compressed != 0 || body.len() < len {
        return None;
    }
    let method = method(path)?;
    let descriptor = match side {
        Side::Request => method.input(),
        Side::Response => method.output(),
    };
    let message = DynamicMessage::decode(descriptor, &body[..len]).ok()?;
    let mut json = serde_json::to_value(&message).ok()?;
    redact(&mut json);
    let size = json.to_string().len();
    if size > MAX_JSON_BYTES {
        return Some(serde_json::json!({ "omitted": format!("{size} bytes of JSON") }));
    }
    Some(json)
}

/// Replaces every value under a key that names a secret.
fn redact(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                let secret = ["secret", "password", "token", "credential"]
                    .iter()
                    .any(|s| key.contains(s))
                    && !key.ends_with("pagetoken");
                if secret {
                    *v = Value::String(REDACTED.to_owned());
                } else {
                    redact(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::notification::v1 as pb;

    fn framed(bytes: Vec<u8>) -> Vec<u8> {
        let mut out = vec![0u8];
        out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        out.extend(bytes);
        out
    }

    #[test]
    fn a_webhook_request_reads_as_json_without_its_secret() {
        let request = pb::CreateWebhookRequest {
            webhook: Some(pb::Webhook {
                url: "https://hooks.example.com/x".into(),
                secret: "a-very-secret-signing-key".into(),
                ..Default::default()
            }),
        };
        let json = framed_to_json(
            "/switchboard.notification.v1.NotificationService/CreateWebhook",
            Side::Request,
            &framed(request.encode_to_vec()),
        )
        .unwrap();
        assert_eq!(json["webhook"]["url"], "https://hooks.example.com/x");
        assert_eq!(json["webhook"]["secret"], REDACTED);
        assert!(!json.to_string().contains("a-very-secret"));
    }

    #[test]
    fn unknown_methods_and_broken_frames_read_as_nothing() {
        assert!(framed_to_json("/x.Y/Z", Side::Request, &framed(vec![])).is_none());
        let path = "/switchboard.notification.v1.NotificationService/CreateWebhook";
        assert!(framed_to_json(path, Side::Request, &[0, 0, 0]).is_none());
        assert!(framed_to_json(path, Side::Request, &[1, 0, 0, 0, 0]).is_none());
    }
}
