//! Helpers shared by the lake's integration tests.

pub mod faults;
