//! Switchboard's protobuf contracts: messages, gRPC clients and servers, and
//! the file descriptor set for server reflection.
#![allow(
    missing_docs,
    clippy::large_enum_variant,
    clippy::doc_lazy_continuation
)]

pub mod guard;
pub mod json;

/// Encoded `FileDescriptorSet` of every Switchboard proto, for reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/switchboard_descriptor.bin"));

/// Types shared by every API and event.
pub mod common {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.common.v1");
    }
}

/// The event envelope and every event payload.
pub mod events {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.events.v1");
    }
}

/// The ticket service.
pub mod ticket {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.ticket.v1");
    }
}

/// The routing service.
pub mod routing {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.routing.v1");
    }
}

/// The notification service.
pub mod notification {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.notification.v1");
    }
}

/// The knowledge service.
pub mod knowledge {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.knowledge.v1");
    }
}

/// The analytics service.
pub mod analytics {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.analytics.v1");
    }
}

/// API tokens and the audit trail.
pub mod access {
    /// Version 1.
    pub mod v1 {
        tonic::include_proto!("switchboard.access.v1");
    }
}
