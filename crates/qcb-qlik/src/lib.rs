//! `qcb-qlik`: how qcb talks to a Qlik Cloud tenant. `TenantClient` paces every request by
//! its rate-limit tier (from Qlik's specs), signs it (API key or OAuth with refresh), retries
//! what is safe to retry, follows every paging style through `links.next.href`, and streams
//! downloads with resume. Errors say which request on which resource failed and why.
//! The Engine (QIX) websocket client will live beside it (`engine`, to come).

pub mod auth;
pub mod client;
pub mod error;
pub mod inventory;
pub mod limiter;
pub mod tenant_url;
pub mod tiers;

pub use auth::{Credentials, UserLookup};
pub use client::{ApiCounters, ClientOptions, Download, Request, TenantClient};
pub use error::{error_line, ClientError, QlikErrorItem, RequestName};
pub use limiter::Budget;
pub use reqwest::Method;
pub use tenant_url::{TenantUrl, TenantUrlError};
