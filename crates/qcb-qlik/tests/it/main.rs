//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

mod auth;
mod faults;
mod limits;
mod paging;
mod polling;
