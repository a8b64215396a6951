//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

mod support;

mod bad_input;
mod conflicts;
mod owners;
mod round_trip;
mod secrets_and_map;
mod selection;
