//! The bad-input sweep of issue 18.
