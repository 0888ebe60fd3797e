//! Help-desk KPIs, defined in code and computed without I/O.
//!
//! The analytics service maps ticket events into [`TicketEvent`]s, folds
//! each ticket's history into a [`TicketFact`] (its reply, resolution and
//! wait times in calendar and business seconds, reopens, hops, rating…),
//! and asks [`overview`](overview::overview), [`series`](overview::series)
//! and [`anomaly`] for the numbers a supervisor sees; [`terms`] reads a
//! subject into the words top issues rank. Every metric's definition is
//! the doc comment of the field or variant holding it; `METRICS.md` says
//! the same in prose.

pub mod anomaly;
pub mod fact;
pub mod overview;
pub mod stats;
pub mod terms;

pub use fact::{Basis, Elapsed, FoldError, TicketEvent, TicketFact, Timeline};
pub use overview::{Metric, Range};
pub use stats::{DurationStats, Rate};
