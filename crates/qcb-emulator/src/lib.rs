//! `qcb-emulator`: a Qlik Cloud tenant on loopback, built from Qlik's published OpenAPI specs
//! (`specs/qlik/rest`). It serves the component kinds that qcb backs up and restores with the
//! same paths, paging, limits, error bodies, rate-limit tiers, OAuth token endpoint and app
//! export/import flow as the specs describe, over seeded tenants (`empty`, `demo`, `large`),
//! with switchable faults and counters for tests.
//!
//! The emulator never imports the qcb client, and the client never imports the emulator.

pub mod actions;
pub mod apps;
pub mod audit;
pub mod auth;
pub mod auth_routes;
pub mod clock;
pub mod config;
pub mod control;
pub mod error;
pub mod files;
pub mod generic;
pub mod kinds;
pub mod licenses;
pub mod paging;
pub mod ratelimit;
pub mod scripts;
pub mod seed;
pub mod server;
pub mod singletons;
pub mod state;
pub mod tenant;
pub mod tiers;
pub mod validate;
pub mod visibility;

pub use config::{EmulatorConfig, Faults, LinkStyle, Profile};
pub use server::{Emulator, EmulatorError};
pub use tenant::{Exchange, Tenant};
