//! Shared helpers for the emulator integration tests.

pub mod openapi;
pub mod tenant;
