//! Layered configuration: built-in defaults, then an optional file, then
//! `SWITCHBOARD__…` environment variables.

use std::{collections::BTreeMap, net::SocketAddr, path::Path, time::Duration};

use config::{Config, Environment, File, FileFormat};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

/// The documented defaults, embedded so the binary needs no file to start.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

/// Development-only signing key shipped in the defaults.
const DEV_JWT_SECRET: &str = "switchboard-development-secret-do-not-use-in-production";

/// A configuration that cannot be used, naming the setting at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The sources could not be read or a value has the wrong type.
    #[error("configuration error: {0}")]
    Load(#[from] config::ConfigError),
    /// A value parsed but is not acceptable.
    #[error("configuration error: `{key}` {reason}")]
    Invalid {
        /// The dotted name of the setting, e.g. `auth.jwt_secret`.
        key: &'static str,
        /// Why the value is refused.
        reason: String,
    },
}

/// Every setting of a Switchboard process.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The gRPC listener.
    pub grpc: GrpcSettings,
    /// The Prometheus endpoint.
    pub metrics: MetricsSettings,
    /// Logging.
    pub log: LogSettings,
    /// PostgreSQL.
    pub database: DatabaseSettings,
    /// NATS connection.
    pub nats: NatsSettings,
    /// The JetStream stream and the outbox relay.
    pub events: EventSettings,
    /// Redis connection.
    pub redis: RedisSettings,
    /// Bearer token verification.
    pub auth: AuthSettings,
    /// Graceful shutdown.
    pub shutdown: ShutdownSettings,
    /// Readiness checks.
    pub health: HealthSettings,
    /// Where email attachments are kept.
    pub attachments: AttachmentSettings,
    /// The plain-HTTP listener (inbound mail webhooks).
    pub http: HttpSettings,
    /// Email, webhook and retry settings of the notification service.
    pub notification: NotificationSettings,
    /// How services reach each other over gRPC.
    pub clients: ClientSettings,
    /// Caps and buffers of server streams.
    pub streams: StreamSettings,
    /// Keepalive and limits of accepted connections.
    pub connections: ConnectionSettings,
    /// Rate limits of calls (`[limits]`).
    pub limits: LimitSettings,
}

/// Rate limits of authenticated calls, shared by replicas through Redis.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSettings {
    /// Whether calls are limited at all.
    pub enabled: bool,
    /// Prefix of the limiter's Redis keys; empty for
    /// `<events.subject_prefix>:limits`.
    pub key_prefix: String,
    /// Milliseconds a Redis check may take before the process falls back to
    /// its own memory.
    pub redis_timeout_ms: u64,
    /// Calls of one caller (a person, or an integration's API token).
    pub caller: RateSettings,
    /// Calls of one tenant, all its callers together.
    pub tenant: RateSettings,
    /// Failed authentications from one peer address.
    pub failed_auth: RateSettings,
    /// Per-tenant overrides of `caller` and `tenant`, keyed by tenant id.
    #[serde(default)]
    pub tenants: BTreeMap<String, TenantLimitSettings>,
}

impl LimitSettings {
    /// The Redis key prefix, given the installation's subject prefix.
    pub fn key_prefix_or(&self, subject_prefix: &str) -> String {
        if self.key_prefix.is_empty() {
            format!("{subject_prefix}:limits")
        } else {
            self.key_prefix.clone()
        }
    }

    /// How long one Redis check may take.
    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

/// A sustained rate with room for a burst.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateSettings {
    /// Calls per second, sustained (fractions allowed: 0.5 is one every 2 s).
    pub per_second: f64,
    /// Calls allowed at once after a quiet spell.
    pub burst: u32,
}

/// One tenant's own limits; what is left out keeps the default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantLimitSettings {
    /// Its callers' limit.
    #[serde(default)]
    pub caller: RateOverride,
    /// Its own limit.
    #[serde(default)]
    pub tenant: RateOverride,
}

/// Either half of a [`RateSettings`], or neither.
#[derive(Debug, Clone, Copy, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateOverride {
    /// Calls per second, sustained.
    pub per_second: Option<f64>,
    /// Calls allowed at once.
    pub burst: Option<u32>,
}

impl RateOverride {
    /// `base` with this override's values in place.
    pub fn over(&self, base: RateSettings) -> RateSettings {
        RateSettings {
            per_second: self.per_second.unwrap_or(base.per_second),
            burst: self.burst.unwrap_or(base.burst),
        }
    }
}

/// Highest sustained rate a limit may name (calls per second).
const MAX_RATE: f64 = 1_000_000.0;
/// Lowest sustained rate a limit may name: one call a day.
const MIN_RATE: f64 = 1.0 / 86_400.0;
/// Largest burst a limit may name.
const MAX_BURST: u32 = 1_000_000;

/// Caps and buffers of server streams (`Watch…`, `Subscribe`, exports).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    /// Streams one caller may hold open at once in this process.
    pub max_per_caller: usize,
    /// Streams one tenant may hold open at once in this process.
    pub max_per_tenant: usize,
    /// Streams this process holds open at once.
    pub max_per_process: usize,
    /// Items a stream buffers for a slow reader before it is cut off.
    pub buffer: usize,
    /// Encoded bytes a stream buffers for a slow reader before it is cut off.
    pub buffer_bytes: usize,
    /// Seconds a paced stream waits for its reader before it is cut off.
    pub stall_timeout_seconds: u64,
    /// Messages each live-update NATS subscription buffers.
    pub nats_subscription_capacity: usize,
    /// Events a tenant's shared live source keeps for its slowest watcher.
    pub fanout_buffer: usize,
    /// Shortest time between two computations of one tenant's live
    /// dashboard, in milliseconds.
    pub dashboard_min_interval_ms: u64,
}

impl Default for StreamSettings {
    fn default() -> Self {
        Self {
            max_per_caller: 16,
            max_per_tenant: 500,
            max_per_process: 2_000,
            buffer: 256,
            buffer_bytes: 1 << 20,
            stall_timeout_seconds: 60,
            nats_subscription_capacity: 1024,
            fanout_buffer: 1024,
            dashboard_min_interval_ms: 1000,
        }
    }
}

/// Keepalive and limits of the connections the gRPC server accepts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSettings {
    /// Seconds between HTTP/2 pings; 0 disables them.
    pub http2_keepalive_interval_seconds: u64,
    /// Seconds to wait for a ping's acknowledgement before closing.
    pub http2_keepalive_timeout_seconds: u64,
    /// Idle seconds before TCP keepalive probes; 0 disables them.
    pub tcp_keepalive_seconds: u64,
    /// Concurrent HTTP/2 streams (calls) per connection.
    pub max_concurrent_streams: u32,
}

impl Default for ConnectionSettings {
    fn default() -> Self {
        Self {
            http2_keepalive_interval_seconds: 30,
            http2_keepalive_timeout_seconds: 20,
            tcp_keepalive_seconds: 60,
            max_concurrent_streams: 200,
        }
    }
}

impl ConnectionSettings {
    fn seconds(n: u64) -> Option<Duration> {
        (n > 0).then(|| Duration::from_secs(n))
    }

    /// The HTTP/2 ping interval, if pings are on.
    pub fn http2_keepalive_interval(&self) -> Option<Duration> {
        Self::seconds(self.http2_keepalive_interval_seconds)
    }

    /// How long a ping may go unanswered.
    pub fn http2_keepalive_timeout(&self) -> Duration {
        Duration::from_secs(self.http2_keepalive_timeout_seconds)
    }

    /// The TCP keepalive idle time, if probes are on.
    pub fn tcp_keepalive(&self) -> Option<Duration> {
        Self::seconds(self.tcp_keepalive_seconds)
    }
}

/// How services reach each other over gRPC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSettings {
    /// Base URL of the ticket service, e.g. `http://ticket:50051`.
    pub ticket_url: String,
}

/// The notification service: outgoing SMTP, webhooks and their retries.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationSettings {
    /// SMTP relay host.
    pub smtp_host: String,
    /// SMTP relay port.
    pub smtp_port: u16,
    /// `none`, `starttls` or `tls`.
    pub smtp_tls: String,
    /// SMTP user name; empty for no authentication.
    pub smtp_username: String,
    /// SMTP password.
    pub smtp_password: SecretString,
    /// The `From` mailbox of every email.
    pub from: String,
    /// The desk's inbound address, the `Reply-To` of every email.
    pub reply_to: String,
    /// Domain of the `Message-ID`s the desk makes.
    pub domain: String,
    /// Satisfaction survey link in solve emails; `{ticket}` becomes the ticket id.
    pub survey_url: String,
    /// Attempts per delivery before it is dead-lettered.
    pub max_attempts: u32,
    /// First retry delay in milliseconds; doubles per attempt, with jitter.
    pub retry_base_ms: u64,
    /// Longest retry delay in milliseconds.
    pub retry_max_ms: u64,
    /// Timeout of one webhook POST or SMTP exchange, in milliseconds.
    pub send_timeout_ms: u64,
    /// How often the dispatcher polls for due deliveries, in milliseconds.
    pub dispatch_poll_ms: u64,
    /// Deliveries sent at the same time per replica.
    pub dispatch_concurrency: u32,
    /// CIDRs webhooks may reach besides public addresses (on-premise
    /// receivers); loopback, private, link-local and the like are denied
    /// otherwise.
    pub webhook_allowed_cidrs: Vec<String>,
}

/// The attachment object store.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttachmentSettings {
    /// Which store keeps attachments.
    pub backend: AttachmentBackend,
    /// Directory that holds attachments, one file per object key.
    pub local_dir: std::path::PathBuf,
    /// The bucket, when `backend` is `s3`.
    pub s3: S3Settings,
}

/// Where attachments are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttachmentBackend {
    /// A directory (`attachments.local_dir`).
    Local,
    /// An S3-compatible bucket (`attachments.s3`).
    S3,
}

/// An S3-compatible bucket: AWS S3, MinIO, Ceph RGW and the like.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Signing region; empty for `AWS_REGION`, else `us-east-1`.
    pub region: String,
    /// Endpoint URL, e.g. `http://minio:9000`; empty for AWS's own.
    pub endpoint: String,
    /// Access key id; empty for the `AWS_*` environment or the instance's role.
    pub access_key_id: String,
    /// Secret access key belonging to `access_key_id`.
    pub secret_access_key: SecretString,
    /// Bucket in the path (`endpoint/bucket/key`) rather than the host name.
    pub path_style: bool,
}

/// Plain-HTTP endpoints for integrations that cannot speak gRPC.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Listen address; empty disables the endpoints.
    #[serde(deserialize_with = "optional_addr")]
    pub listen: Option<SocketAddr>,
}

/// The gRPC listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcSettings {
    /// Listen address.
    pub listen: SocketAddr,
    /// Largest request message accepted, in bytes.
    pub max_message_bytes: usize,
}

/// The Prometheus endpoint.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Listen address; empty disables the endpoint.
    #[serde(deserialize_with = "optional_addr")]
    pub listen: Option<SocketAddr>,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Logging.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    /// Output format.
    pub format: LogFormat,
    /// Tracing filter directives.
    pub level: String,
}

/// PostgreSQL.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// URL shared by every service.
    pub url: SecretString,
    /// Per-service overrides of `url`, keyed by service name.
    #[serde(default)]
    pub urls: BTreeMap<String, SecretString>,
    /// Pool size per service.
    pub max_connections: u32,
    /// Seconds to wait for a pooled connection.
    pub acquire_timeout_seconds: u64,
    /// Apply migrations at start.
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The URL a service connects to: its override, else the shared one.
    pub fn url_for(&self, service: &str) -> &SecretString {
        self.urls.get(service).unwrap_or(&self.url)
    }

    /// How long to wait for a pooled connection.
    pub fn acquire_timeout(&self) -> Duration {
        Duration::from_secs(self.acquire_timeout_seconds)
    }
}

/// NATS connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    /// Server URL(s), comma separated.
    pub url: String,
}

/// The JetStream stream and the outbox relay.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSettings {
    /// Stream name.
    pub stream: String,
    /// First subject token.
    pub subject_prefix: String,
    /// Stream replicas when created.
    pub stream_replicas: usize,
    /// Duplicate window in seconds.
    pub duplicate_window_seconds: u64,
    /// Retention in hours.
    pub max_age_hours: u64,
    /// Rows per relay round.
    pub relay_batch_size: u32,
    /// Idle poll interval in milliseconds.
    pub relay_poll_interval_ms: u64,
    /// Attempts per event before it is dead-lettered.
    pub max_deliver: i64,
    /// Retention of the dead-letter stream in hours.
    pub dead_letter_max_age_hours: u64,
}

/// Redis connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisSettings {
    /// Redis URL.
    pub url: SecretString,
}

/// Bearer token verification.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// HS256 key.
    pub jwt_secret: SecretString,
    /// Lifetime of issued tokens in seconds.
    pub token_ttl_seconds: u64,
    /// Longest lifetime (`exp - iat`) of a token accepted, in seconds.
    pub max_token_lifetime_seconds: u64,
    /// Lets a server with the built-in development key listen beyond loopback.
    pub allow_development_secret: bool,
    /// Identity providers whose tokens are accepted (`[[auth.issuers]]`).
    #[serde(default)]
    pub issuers: Vec<IssuerSettings>,
    /// Least seconds between two key-set fetches of one issuer on unknown `kid`s.
    pub jwks_min_refresh_seconds: u64,
    /// Seconds between scheduled key-set fetches of every issuer.
    pub jwks_refresh_seconds: u64,
    /// Seconds an API token's record is cached: how long a revocation takes
    /// to reach every replica.
    pub api_token_cache_seconds: u64,
}

/// One identity provider (`[[auth.issuers]]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IssuerSettings {
    /// The `iss` of its tokens, exactly.
    pub issuer: String,
    /// Where its signing keys are published (JWKS).
    pub jwks_url: String,
    /// The `aud` its tokens must carry for Switchboard.
    pub audience: String,
    /// The one tenant every token of this issuer belongs to.
    #[serde(default)]
    pub tenant: Option<String>,
    /// Or the claim naming the tenant.
    #[serde(default)]
    pub tenant_claim: Option<String>,
    /// The claim holding the user id.
    #[serde(default = "default_user_claim")]
    pub user_claim: String,
    /// The claim holding the user's role values (a string or a list).
    #[serde(default)]
    pub role_claim: Option<String>,
    /// Provider role value → Switchboard role; the highest match wins.
    #[serde(default)]
    pub roles: BTreeMap<String, crate::Role>,
    /// The role when no value matches; without it such tokens are refused.
    #[serde(default)]
    pub default_role: Option<crate::Role>,
    /// Signature algorithms accepted.
    #[serde(default = "default_algorithms")]
    pub algorithms: Vec<String>,
}

fn default_user_claim() -> String {
    "sub".to_owned()
}

fn default_algorithms() -> Vec<String> {
    ["RS256", "ES256", "EdDSA"].map(String::from).to_vec()
}

impl AuthSettings {
    /// Whether the key is still the development one from the defaults.
    pub fn uses_development_secret(&self) -> bool {
        self.jwt_secret.expose_secret() == DEV_JWT_SECRET
    }

    /// Longest lifetime of a token accepted.
    pub fn max_token_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_token_lifetime_seconds)
    }
}

/// Graceful shutdown.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownSettings {
    /// Drain deadline in seconds.
    pub grace_seconds: u64,
}

impl ShutdownSettings {
    /// The drain deadline.
    pub fn grace(&self) -> Duration {
        Duration::from_secs(self.grace_seconds)
    }
}

/// How readiness is checked (see `[health]` in defaults.toml).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSettings {
    /// Milliseconds between two passes of every check.
    pub interval_ms: u64,
    /// Milliseconds one check may take before it counts as failed.
    pub timeout_ms: u64,
    /// Consecutive contrary results before a status flips.
    pub threshold: u32,
}

impl HealthSettings {
    /// Time between two passes.
    pub fn interval(&self) -> Duration {
        Duration::from_millis(self.interval_ms)
    }

    /// Longest a check may take.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

impl Settings {
    /// Loads defaults, then `file` when given, then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_from(file, Environment::with_prefix("SWITCHBOARD"))
    }

    /// Like [`Settings::load`] but with environment variables from `vars`
    /// instead of the process (for tests).
    pub fn load_with_vars(
        file: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let source = vars.into_iter().collect();
        Self::load_from(
            file,
            Environment::with_prefix("SWITCHBOARD").source(Some(source)),
        )
    }

    fn load_from(file: Option<&Path>, env: Environment) -> Result<Self, ConfigError> {
        let mut builder =
            Config::builder().add_source(File::from_str(DEFAULTS_TOML, FileFormat::Toml));
        if let Some(path) = file {
            builder = builder.add_source(File::from(path).required(true));
        }
        let env = env
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("notification.webhook_allowed_cidrs");
        let settings: Settings = builder.add_source(env).build()?.try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.validate_auth()?;
        for cidr in &self.notification.webhook_allowed_cidrs {
            if cidr.parse::<ipnet::IpNet>().is_err() {
                return invalid(
                    "notification.webhook_allowed_cidrs",
                    "must be CIDRs like `10.1.2.0/24` or `fd00::/8`",
                );
            }
        }
        if self.database.max_connections == 0 {
            return invalid("database.max_connections", "must be greater than 0");
        }
        for service in self.database.urls.keys() {
            if !crate::SERVICE_NAMES.contains(&service.as_str()) {
                return Err(ConfigError::Invalid {
                    key: "database.urls",
                    reason: format!(
                        "names unknown service `{service}` (known: {})",
                        crate::SERVICE_NAMES.join(", ")
                    ),
                });
            }
        }
        if !is_subject_token(&self.events.subject_prefix) {
            return invalid(
                "events.subject_prefix",
                "must be one NATS subject token: letters, digits, `-` or `_`",
            );
        }
        if !is_subject_token(&self.events.stream) {
            return invalid(
                "events.stream",
                "must be letters, digits, `-` or `_` (a JetStream stream name)",
            );
        }
        if self.events.relay_batch_size == 0 || self.events.relay_batch_size > 10_000 {
            return invalid("events.relay_batch_size", "must be between 1 and 10000");
        }
        if !(2..=1000).contains(&self.events.max_deliver) {
            return invalid("events.max_deliver", "must be between 2 and 1000");
        }
        if self.events.dead_letter_max_age_hours == 0 {
            return invalid("events.dead_letter_max_age_hours", "must be at least 1");
        }
        if self.events.stream_replicas == 0 || self.events.stream_replicas > 5 {
            return invalid("events.stream_replicas", "must be between 1 and 5");
        }
        let n = &self.notification;
        if !matches!(n.smtp_tls.as_str(), "none" | "starttls" | "tls") {
            return invalid("notification.smtp_tls", "must be none, starttls or tls");
        }
        if n.max_attempts == 0 || n.max_attempts > 100 {
            return invalid("notification.max_attempts", "must be between 1 and 100");
        }
        if n.retry_base_ms == 0 || n.retry_max_ms < n.retry_base_ms {
            return invalid(
                "notification.retry_max_ms",
                "must be at least notification.retry_base_ms, which must be greater than 0",
            );
        }
        if n.dispatch_concurrency == 0 || n.dispatch_concurrency > 256 {
            return invalid(
                "notification.dispatch_concurrency",
                "must be between 1 and 256",
            );
        }
        if n.send_timeout_ms == 0 || n.dispatch_poll_ms == 0 {
            return invalid(
                "notification.send_timeout_ms",
                "and notification.dispatch_poll_ms must be greater than 0",
            );
        }
        if self.grpc.max_message_bytes < 1024 || self.grpc.max_message_bytes > 64 << 20 {
            return invalid("grpc.max_message_bytes", "must be between 1 KiB and 64 MiB");
        }
        self.validate_attachments()?;
        self.validate_streams()?;
        self.validate_limits()?;
        let h = &self.health;
        if h.interval_ms < 100 || h.timeout_ms == 0 || h.timeout_ms > h.interval_ms {
            return invalid(
                "health.timeout_ms",
                "must be greater than 0 and at most health.interval_ms, which must be at least 100",
            );
        }
        if h.threshold == 0 || h.threshold > 10 {
            return invalid("health.threshold", "must be between 1 and 10");
        }
        let ticket_url = self.clients.ticket_url.trim();
        if !(ticket_url.starts_with("http://") || ticket_url.starts_with("https://")) {
            return invalid("clients.ticket_url", "must be an http:// or https:// URL");
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let auth = &self.auth;
        if auth.jwt_secret.expose_secret().len() < 32 {
            return invalid("auth.jwt_secret", "must be at least 32 bytes");
        }
        if auth.max_token_lifetime_seconds == 0 {
            return invalid("auth.max_token_lifetime_seconds", "must be greater than 0");
        }
        if auth.token_ttl_seconds == 0 || auth.token_ttl_seconds > auth.max_token_lifetime_seconds {
            return invalid(
                "auth.token_ttl_seconds",
                "must be greater than 0 and at most auth.max_token_lifetime_seconds",
            );
        }
        if auth.jwks_min_refresh_seconds == 0 || auth.jwks_refresh_seconds == 0 {
            return invalid(
                "auth.jwks_min_refresh_seconds",
                "and auth.jwks_refresh_seconds must be greater than 0",
            );
        }
        if auth.api_token_cache_seconds > 300 {
            return invalid(
                "auth.api_token_cache_seconds",
                "must be at most 300 (a revoked token works until its record leaves the cache)",
            );
        }
        for issuer in &auth.issuers {
            validate_issuer(issuer)?;
        }
        // Anyone who read the README can mint an admin token with the
        // built-in key: a server using it stays on loopback.
        let exposed = [Some(self.grpc.listen), self.http.listen]
            .into_iter()
            .flatten()
            .any(|addr| !addr.ip().is_loopback());
        if auth.uses_development_secret() && exposed && !auth.allow_development_secret {
            return invalid(
                "auth.jwt_secret",
                "is the built-in development key, which anyone can read, and grpc.listen or \
                 http.listen is not a loopback address: set your own key (at least 32 bytes), \
                 listen on 127.0.0.1, or set auth.allow_development_secret = true",
            );
        }
        Ok(())
    }

    fn validate_streams(&self) -> Result<(), ConfigError> {
        let s = &self.streams;
        if s.max_per_caller == 0 {
            return invalid("streams.max_per_caller", "must be greater than 0");
        }
        if s.max_per_tenant < s.max_per_caller {
            return invalid(
                "streams.max_per_tenant",
                "must be at least streams.max_per_caller",
            );
        }
        if s.max_per_process < s.max_per_tenant {
            return invalid(
                "streams.max_per_process",
                "must be at least streams.max_per_tenant",
            );
        }
        if s.buffer == 0 || s.buffer > 65_536 {
            return invalid("streams.buffer", "must be between 1 and 65536");
        }
        if s.buffer_bytes < 1024 || s.buffer_bytes > 64 << 20 {
            return invalid("streams.buffer_bytes", "must be between 1 KiB and 64 MiB");
        }
        if s.stall_timeout_seconds == 0 {
            return invalid("streams.stall_timeout_seconds", "must be greater than 0");
        }
        if s.nats_subscription_capacity == 0 || s.nats_subscription_capacity > 65_536 {
            return invalid(
                "streams.nats_subscription_capacity",
                "must be between 1 and 65536",
            );
        }
        if s.fanout_buffer == 0 || s.fanout_buffer > 65_536 {
            return invalid("streams.fanout_buffer", "must be between 1 and 65536");
        }
        if !(100..=60_000).contains(&s.dashboard_min_interval_ms) {
            return invalid(
                "streams.dashboard_min_interval_ms",
                "must be between 100 and 60000",
            );
        }
        let c = &self.connections;
        if c.http2_keepalive_interval_seconds > 0 && c.http2_keepalive_timeout_seconds == 0 {
            return invalid(
                "connections.http2_keepalive_timeout_seconds",
                "must be greater than 0 while pings are on",
            );
        }
        if c.max_concurrent_streams == 0 {
            return invalid(
                "connections.max_concurrent_streams",
                "must be greater than 0",
            );
        }
        Ok(())
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        // Parsing opens nothing; a URL Redis's client cannot use would leave
        // every replica limiting on its own.
        if redis::Client::open(self.redis.url.expose_secret()).is_err() {
            return invalid(
                "redis.url",
                "must be a redis:// URL (or a unix socket path)",
            );
        }
        let l = &self.limits;
        if l.key_prefix
            .chars()
            .any(|c| c.is_control() || c.is_whitespace())
        {
            return invalid(
                "limits.key_prefix",
                "must not contain spaces or control characters",
            );
        }
        if l.redis_timeout_ms == 0 || l.redis_timeout_ms > 10_000 {
            return invalid("limits.redis_timeout_ms", "must be between 1 and 10000");
        }
        check_rate("limits.caller", l.caller)?;
        check_rate("limits.tenant", l.tenant)?;
        check_rate("limits.failed_auth", l.failed_auth)?;
        for (tenant, own) in &l.tenants {
            if let Err(e) = crate::TenantId::parse(tenant) {
                return invalid("limits.tenants", &e);
            }
            for (key, rate) in [
                ("caller", own.caller.over(l.caller)),
                ("tenant", own.tenant.over(l.tenant)),
            ] {
                check_rate("limits.tenants", rate).map_err(|e| match e {
                    ConfigError::Invalid { reason, .. } => ConfigError::Invalid {
                        key: "limits.tenants",
                        reason: format!("`{tenant}.{key}`: {reason}"),
                    },
                    other => other,
                })?;
            }
        }
        Ok(())
    }

    fn validate_attachments(&self) -> Result<(), ConfigError> {
        let s3 = &self.attachments.s3;
        if self.attachments.backend != AttachmentBackend::S3 {
            return Ok(());
        }
        if s3.bucket.trim().is_empty() {
            return invalid(
                "attachments.s3.bucket",
                "must be set when attachments.backend is s3",
            );
        }
        let endpoint = s3.endpoint.trim();
        if !(endpoint.is_empty()
            || endpoint.starts_with("http://")
            || endpoint.starts_with("https://"))
        {
            return invalid(
                "attachments.s3.endpoint",
                "must be an http:// or https:// URL, or empty for AWS",
            );
        }
        // One without the other would silently fall back to other credentials.
        let has_secret = !s3.secret_access_key.expose_secret().is_empty();
        if s3.access_key_id.is_empty() && has_secret {
            return invalid(
                "attachments.s3.access_key_id",
                "must be set when attachments.s3.secret_access_key is",
            );
        }
        if !s3.access_key_id.is_empty() && !has_secret {
            return invalid(
                "attachments.s3.secret_access_key",
                "must be set when attachments.s3.access_key_id is",
            );
        }
        Ok(())
    }
}

fn is_subject_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn optional_addr<'de, D>(de: D) -> Result<Option<SocketAddr>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = String::deserialize(de)?;
    if raw.trim().is_empty() {
        return Ok(None);
    }
    raw.parse().map(Some).map_err(serde::de::Error::custom)
}

/// Refuses a rate no limiter can keep: not a positive number within bounds,
/// or no burst.
fn check_rate(key: &'static str, rate: RateSettings) -> Result<(), ConfigError> {
    if !(MIN_RATE..=MAX_RATE).contains(&rate.per_second) {
        return Err(ConfigError::Invalid {
            key,
            reason: format!(
                "`per_second` must be between {MIN_RATE:.6} (one a day) and {MAX_RATE}, not {}",
                rate.per_second
            ),
        });
    }
    if rate.burst == 0 || rate.burst > MAX_BURST {
        return Err(ConfigError::Invalid {
            key,
            reason: format!("`burst` must be between 1 and {MAX_BURST}"),
        });
    }
    Ok(())
}

/// A configuration error naming `key`.
fn validate_issuer(i: &IssuerSettings) -> Result<(), ConfigError> {
    if i.issuer.trim().is_empty() {
        return invalid("auth.issuers[].issuer", "must not be empty");
    }
    let url = i.jwks_url.trim();
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return invalid(
            "auth.issuers[].jwks_url",
            "must be an http:// or https:// URL",
        );
    }
    if i.audience.trim().is_empty() {
        return invalid("auth.issuers[].audience", "must not be empty");
    }
    match (&i.tenant, &i.tenant_claim) {
        (Some(t), None) => {
            if let Err(e) = crate::TenantId::parse(t) {
                return invalid("auth.issuers[].tenant", &e);
            }
        }
        (None, Some(_)) => {}
        _ => {
            return invalid(
                "auth.issuers[].tenant",
                "set exactly one of `tenant` (a fixed tenant) and `tenant_claim`",
            );
        }
    }
    if i.role_claim.is_none() && i.default_role.is_none() {
        return invalid(
            "auth.issuers[].role_claim",
            "set `role_claim` with `roles`, or `default_role`",
        );
    }
    if i.algorithms.is_empty() {
        return invalid(
            "auth.issuers[].algorithms",
            "must name at least one algorithm",
        );
    }
    if let Some(bad) = i
        .algorithms
        .iter()
        .find(|a| crate::auth::oidc::parse_algorithm(a).is_none())
    {
        return invalid(
            "auth.issuers[].algorithms",
            &format!(
                "`{bad}` is not one of RS256, RS384, RS512, PS256, ES256, ES384, EdDSA \
                 (shared-secret algorithms are for the local key only)"
            ),
        );
    }
    Ok(())
}

fn invalid(key: &'static str, reason: &str) -> Result<(), ConfigError> {
    Err(ConfigError::Invalid {
        key,
        reason: reason.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::load_with_vars(
            None,
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    #[test]
    fn defaults_load_and_are_documented_values() {
        let s = load(&[]).unwrap();
        assert_eq!(s.grpc.listen.port(), 50051);
        assert_eq!(s.metrics.listen.unwrap().port(), 9464);
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert!(s.auth.uses_development_secret());
        assert_eq!(s.events.stream, "SWITCHBOARD");
        assert!(s.grpc.listen.ip().is_loopback());
        assert!(s.metrics.listen.unwrap().ip().is_loopback());
    }

    #[test]
    fn the_development_key_stays_on_loopback_unless_allowed() {
        for key in ["SWITCHBOARD__GRPC__LISTEN", "SWITCHBOARD__HTTP__LISTEN"] {
            let err = load(&[(key, "0.0.0.0:50051")]).unwrap_err().to_string();
            assert!(err.contains("auth.jwt_secret"), "{err}");
        }
        assert!(
            load(&[
                ("SWITCHBOARD__GRPC__LISTEN", "0.0.0.0:50051"),
                ("SWITCHBOARD__AUTH__ALLOW_DEVELOPMENT_SECRET", "true"),
            ])
            .is_ok()
        );
        assert!(
            load(&[
                ("SWITCHBOARD__GRPC__LISTEN", "0.0.0.0:50051"),
                (
                    "SWITCHBOARD__AUTH__JWT_SECRET",
                    "a-real-key-of-at-least-32-bytes-long"
                ),
            ])
            .is_ok()
        );
    }

    #[test]
    fn token_lifetimes_are_bounded() {
        let err = load(&[("SWITCHBOARD__AUTH__TOKEN_TTL_SECONDS", "999999999")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.token_ttl_seconds"), "{err}");
    }

    #[test]
    fn environment_overrides_defaults() {
        let s = load(&[
            ("SWITCHBOARD__GRPC__LISTEN", "127.0.0.1:6000"),
            ("SWITCHBOARD__LOG__FORMAT", "json"),
            ("SWITCHBOARD__METRICS__LISTEN", ""),
            (
                "SWITCHBOARD__DATABASE__URLS__TICKET",
                "postgres://db-ticket/ticket",
            ),
        ])
        .unwrap();
        assert_eq!(s.grpc.listen.port(), 6000);
        assert_eq!(s.log.format, LogFormat::Json);
        assert!(s.metrics.listen.is_none());
        assert_eq!(
            s.database.url_for("ticket").expose_secret(),
            "postgres://db-ticket/ticket"
        );
        assert_eq!(
            s.database.url_for("routing").expose_secret(),
            s.database.url.expose_secret()
        );
    }

    #[test]
    fn file_sits_between_defaults_and_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(
            &path,
            "[grpc]\nlisten = \"127.0.0.1:7000\"\n[log]\nlevel = \"debug\"\n",
        )
        .unwrap();
        let s = Settings::load_with_vars(
            Some(&path),
            [("SWITCHBOARD__LOG__LEVEL".into(), "warn".into())],
        )
        .unwrap();
        assert_eq!(s.grpc.listen.port(), 7000);
        assert_eq!(s.log.level, "warn");
    }

    #[test]
    fn webhook_allowed_cidrs_are_a_list_of_cidrs() {
        assert!(
            load(&[])
                .unwrap()
                .notification
                .webhook_allowed_cidrs
                .is_empty()
        );
        let s = load(&[(
            "SWITCHBOARD__NOTIFICATION__WEBHOOK_ALLOWED_CIDRS",
            "127.0.0.0/8,fd00::/8",
        )])
        .unwrap();
        assert_eq!(
            s.notification.webhook_allowed_cidrs,
            ["127.0.0.0/8", "fd00::/8"]
        );
        let err = load(&[(
            "SWITCHBOARD__NOTIFICATION__WEBHOOK_ALLOWED_CIDRS",
            "10.0.0.0/33",
        )])
        .unwrap_err()
        .to_string();
        assert!(err.contains("notification.webhook_allowed_cidrs"), "{err}");
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = load(&[("SWITCHBOARD__GRPC__LISTEN", "not-an-address")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("grpc.listen"), "{err}");

        let err = load(&[("SWITCHBOARD__AUTH__JWT_SECRET", "short")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.jwt_secret"), "{err}");

        let err = load(&[("SWITCHBOARD__EVENTS__SUBJECT_PREFIX", "a.b")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("events.subject_prefix"), "{err}");

        let err = load(&[("SWITCHBOARD__EVENTS__MAX_DELIVER", "1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("events.max_deliver"), "{err}");

        let err = load(&[("SWITCHBOARD__DATABASE__URLS__BILLING", "postgres://x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("billing"), "{err}");
    }

    #[test]
    fn s3_attachments_need_a_bucket_and_whole_credentials() {
        let s3 = ("SWITCHBOARD__ATTACHMENTS__BACKEND", "s3");
        let err = load(&[s3]).unwrap_err().to_string();
        assert!(err.contains("attachments.s3.bucket"), "{err}");

        let bucket = ("SWITCHBOARD__ATTACHMENTS__S3__BUCKET", "desk");
        let err = load(&[
            s3,
            bucket,
            ("SWITCHBOARD__ATTACHMENTS__S3__ACCESS_KEY_ID", "AK"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("attachments.s3.secret_access_key"), "{err}");

        let err = load(&[
            s3,
            bucket,
            ("SWITCHBOARD__ATTACHMENTS__S3__ENDPOINT", "minio:9000"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("attachments.s3.endpoint"), "{err}");

        let err = load(&[("SWITCHBOARD__ATTACHMENTS__BACKEND", "ftp")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("attachments.backend"), "{err}");

        let s = load(&[s3, bucket]).unwrap();
        assert_eq!(s.attachments.backend, AttachmentBackend::S3);
        assert_eq!(s.attachments.s3.bucket, "desk");
        // The local store stays the default; its bucket settings are inert.
        assert_eq!(
            load(&[]).unwrap().attachments.backend,
            AttachmentBackend::Local
        );
    }

    #[test]
    fn stream_and_connection_defaults_are_the_documented_ones() {
        let s = load(&[]).unwrap();
        let d = StreamSettings::default();
        assert_eq!(
            (
                s.streams.max_per_caller,
                s.streams.max_per_tenant,
                s.streams.max_per_process,
                s.streams.buffer,
                s.streams.buffer_bytes,
                s.streams.stall_timeout_seconds,
                s.streams.nats_subscription_capacity,
                s.streams.fanout_buffer,
                s.streams.dashboard_min_interval_ms
            ),
            (
                d.max_per_caller,
                d.max_per_tenant,
                d.max_per_process,
                d.buffer,
                d.buffer_bytes,
                d.stall_timeout_seconds,
                d.nats_subscription_capacity,
                d.fanout_buffer,
                d.dashboard_min_interval_ms
            )
        );
        let c = ConnectionSettings::default();
        assert_eq!(
            s.connections.http2_keepalive_interval(),
            c.http2_keepalive_interval()
        );
        assert_eq!(s.connections.tcp_keepalive(), c.tcp_keepalive());
        assert_eq!(
            s.connections.max_concurrent_streams,
            c.max_concurrent_streams
        );
    }

    #[test]
    fn bad_stream_settings_name_the_setting() {
        for (key, value, name) in [
            (
                "SWITCHBOARD__STREAMS__MAX_PER_CALLER",
                "0",
                "streams.max_per_caller",
            ),
            (
                "SWITCHBOARD__STREAMS__MAX_PER_TENANT",
                "1",
                "streams.max_per_tenant",
            ),
            ("SWITCHBOARD__STREAMS__BUFFER", "0", "streams.buffer"),
            (
                "SWITCHBOARD__STREAMS__FANOUT_BUFFER",
                "0",
                "streams.fanout_buffer",
            ),
            (
                "SWITCHBOARD__STREAMS__DASHBOARD_MIN_INTERVAL_MS",
                "50",
                "streams.dashboard_min_interval_ms",
            ),
            (
                "SWITCHBOARD__STREAMS__STALL_TIMEOUT_SECONDS",
                "0",
                "streams.stall_timeout_seconds",
            ),
            (
                "SWITCHBOARD__CONNECTIONS__MAX_CONCURRENT_STREAMS",
                "0",
                "connections.max_concurrent_streams",
            ),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{key}={value}: {err}");
        }
        let off = load(&[(
            "SWITCHBOARD__CONNECTIONS__HTTP2_KEEPALIVE_INTERVAL_SECONDS",
            "0",
        )])
        .unwrap();
        assert_eq!(off.connections.http2_keepalive_interval(), None);
    }

    #[test]
    fn limits_have_defaults_and_per_tenant_overrides_key_by_key() {
        let s = load(&[]).unwrap();
        let l = &s.limits;
        assert!(l.enabled);
        assert_eq!((l.caller.per_second, l.caller.burst), (50.0, 200));
        assert_eq!((l.tenant.per_second, l.tenant.burst), (1000.0, 5000));
        assert_eq!(l.key_prefix_or("switchboard"), "switchboard:limits");
        assert!(l.tenants.is_empty());

        let s = load(&[
            (
                "SWITCHBOARD__LIMITS__TENANTS__ACME__CALLER__PER_SECOND",
                "0.5",
            ),
            ("SWITCHBOARD__LIMITS__TENANTS__ACME__TENANT__BURST", "9"),
            ("SWITCHBOARD__LIMITS__KEY_PREFIX", "desk-a"),
        ])
        .unwrap();
        let acme = &s.limits.tenants["acme"];
        let caller = acme.caller.over(s.limits.caller);
        assert_eq!((caller.per_second, caller.burst), (0.5, 200));
        let tenant = acme.tenant.over(s.limits.tenant);
        assert_eq!((tenant.per_second, tenant.burst), (1000.0, 9));
        assert_eq!(s.limits.key_prefix_or("switchboard"), "desk-a");
    }

    #[test]
    fn bad_limits_name_the_setting() {
        for (key, value, name) in [
            (
                "SWITCHBOARD__LIMITS__CALLER__PER_SECOND",
                "0",
                "limits.caller",
            ),
            ("SWITCHBOARD__LIMITS__TENANT__BURST", "0", "limits.tenant"),
            (
                "SWITCHBOARD__LIMITS__FAILED_AUTH__PER_SECOND",
                "-1",
                "limits.failed_auth",
            ),
            (
                "SWITCHBOARD__LIMITS__REDIS_TIMEOUT_MS",
                "0",
                "limits.redis_timeout_ms",
            ),
            (
                "SWITCHBOARD__LIMITS__TENANTS__ACME__CALLER__BURST",
                "0",
                "acme.caller",
            ),
            (
                "SWITCHBOARD__LIMITS__TENANTS__ACME__CALLER__RATE",
                "5",
                "rate",
            ),
            ("SWITCHBOARD__REDIS__URL", "http://cache:6379", "redis.url"),
        ] {
            let err = load(&[(key, value)]).unwrap_err().to_string();
            assert!(err.contains(name), "{key}={value}: {err}");
        }
    }

    #[test]
    fn unknown_settings_are_rejected() {
        let err = load(&[("SWITCHBOARD__GRPC__LISTEN_ADRESS", "127.0.0.1:1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("listen_adress"), "{err}");
    }

    #[test]
    fn secrets_do_not_print() {
        let s = load(&[]).unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("do-not-use"), "{debug}");
    }
}
