//! Integration tests, one binary for the crate (each test file links the whole dependency
//! set, so one binary per file would multiply build time and disk).

#[path = "../../../../tests/servers/mod.rs"]
mod servers;

mod backup_cli;
mod cli;
mod ops_cli;
mod remote_repo_cli;
mod repo_cli;
mod restore_cli;
mod storage_servers;
