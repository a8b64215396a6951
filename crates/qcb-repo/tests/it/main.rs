//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

#[path = "../../../../tests/servers/mod.rs"]
mod servers;
mod support;

mod backends;
mod crash;
mod errors;
mod forget_policy;
mod integrity;
mod restic_compat;
mod round_trip;
