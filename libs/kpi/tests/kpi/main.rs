//! Hand-computed fixtures for every metric, through the public API.

mod anomaly;
mod fact;
mod overview;
mod series;
mod stats;
mod support;
