//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

mod support;

mod alerts;
mod anomaly;
mod email;
mod report;
mod serve;
