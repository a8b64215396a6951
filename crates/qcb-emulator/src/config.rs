//! What a tenant looks like and how it behaves: profile, seed, time, links, faults.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The seeded tenant to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// A fresh tenant: only what Qlik creates itself (the admin, default roles, system groups).
    Empty,
    /// A few dozen of everything.
    Demo,
    /// 1842 apps and the rest at the same scale.
    Large,
}

impl FromStr for Profile {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "empty" => Ok(Profile::Empty),
            "demo" => Ok(Profile::Demo),
            "large" => Ok(Profile::Large),
            other => Err(format!(
                "unknown profile '{other}': use empty, demo or large"
            )),
        }
    }
}

/// How `links.*.href` are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkStyle {
    /// Absolute URLs on the tenant, as official Qlik clients expect.
    #[default]
    Absolute,
    /// Internal hosts, as some of the specs' own examples show (`http://localhost:8787/v1/items?…`).
    Internal,
}

/// Faults a test switches on. Rates are probabilities in 0..=1.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Share of `/api` requests answered with a 5xx.
    pub error_rate: f64,
    /// Only routes whose path starts with this prefix get errors (all when empty).
    pub error_path_prefix: String,
    /// Share of downloads whose connection drops part-way through the body.
    pub drop_rate: f64,
    /// Every request is answered 429 until this many emulated seconds from now.
    pub throttle_storm_secs: u64,
    /// App exports fail (500) instead of starting.
    pub exports_fail: bool,
    /// The audit log records nothing new (an audit service down, or a log that serves only
    /// what it was seeded with).
    pub audit_silent: bool,
    /// Emulated seconds an export stays "running" (204) before its file is ready.
    pub export_latency_secs: Option<f64>,
    /// Emulated seconds an exported file can be downloaded before it answers 410.
    pub export_ttl_secs: Option<u64>,
    /// Real milliseconds every `/api` answer is held back (a tenant far away, or busy).
    pub response_delay_ms: u64,
    /// Real milliseconds every page of a list after the first (a request with a `next`
    /// cursor) is held back besides: a big tenant's long listing.
    pub later_pages_delay_ms: u64,
    /// Resources (by ID) deleted as soon as a list page holding them has been served: a user
    /// deleting them while a backup that has just listed them runs. Each goes once.
    pub delete_once_listed: Vec<String>,
}

/// Everything needed to start a tenant.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    pub profile: Profile,
    pub seed: u64,
    pub time_scale: f64,
    /// The tenant admin's API key; generated from the seed when absent.
    pub admin_api_key: Option<String>,
    /// Load the tenant from, and save it to, this file.
    pub state_file: Option<PathBuf>,
    pub link_style: LinkStyle,
    /// Enforce per-user, per-tier rate limits.
    pub rate_limits: bool,
    /// Qlik evaluates the per-minute limits over a window of this many minutes, which allows bursts.
    pub rate_window_minutes: u32,
    /// Emulated lifetime of OAuth access tokens.
    pub token_lifetime: Duration,
    /// Emulated time an export runs before its file is ready.
    pub export_latency: Duration,
    /// Emulated lifetime of an exported file.
    pub export_ttl: Duration,
    /// Keep every request and JSON response for the contract test.
    pub record_exchanges: bool,
    pub faults: Faults,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            profile: Profile::Demo,
            seed: 1,
            time_scale: 1.0,
            admin_api_key: None,
            state_file: None,
            link_style: LinkStyle::Absolute,
            rate_limits: true,
            rate_window_minutes: 5,
            token_lifetime: Duration::from_secs(6 * 3600),
            export_latency: Duration::from_millis(1500),
            export_ttl: Duration::from_secs(3600),
            record_exchanges: false,
            faults: Faults::default(),
        }
    }
}
