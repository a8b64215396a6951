//! `qcb-ops`: running backups on a schedule and watching them — alerts, anomaly detection
//! between snapshots, run reports, metrics and status.

pub mod alerts;
pub mod anomaly;
pub mod report;

pub mod config;
pub mod metrics;
pub mod runner;
pub mod schedule;
pub mod server;
pub mod state;
pub mod status;
