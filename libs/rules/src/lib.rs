//! Tenant-defined conditions and ordered rules, shared by the ticket
//! service's intake rules and the routing service's routing rules: an `all`
//! list (every condition holds) and an `any` list (at least one holds, when
//! not empty) of field–operator–value conditions, as Zendesk's triggers
//! have them.
//!
//! Each service describes the fields it offers with a [`Schema`] and
//! validates a rule set against it on save ([`validate_rules`]), so that
//! evaluation ([`matches()`], [`matching`]) never meets a type it cannot
//! compare and needs no error path. Evaluation does not allocate: routing
//! runs it for every ticket, so case-insensitive comparisons fold case
//! character by character instead of building lower-cased copies.

mod eval;
mod facts;
mod model;
mod schema;
mod text;
mod validate;
pub mod wire;

pub use eval::{matches, matching};
pub use facts::{Fact, FactMap, Facts, OwnedFact};
pub use model::{Condition, Conditions, Operator, ParseOperatorError, Rule, Value};
pub use schema::{CUSTOM_PREFIX, FieldKind, Schema};
pub use validate::{Violation, validate_conditions, validate_rules};

/// Most rules in one rule set; evaluation cost grows with it.
pub const MAX_RULES: usize = 200;
/// Most conditions in one `all` or `any` list.
pub const MAX_CONDITIONS: usize = 50;
/// Longest text value (and list item), in bytes.
pub const MAX_VALUE_LEN: usize = 1024;
/// Most items in a list value (`in`, `not_in`).
pub const MAX_LIST_LEN: usize = 100;
/// Longest rule name, in characters.
pub const MAX_NAME_LEN: usize = 120;
