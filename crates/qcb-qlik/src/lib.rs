//! `qcb-qlik`: how qcb talks to a Qlik Cloud tenant. This first cut holds the tenant URL
//! rules and one paging loop over `links.next.href`; auth refresh, rate limits, retries and
//! streaming downloads come with the client issue.

pub mod inventory;
pub mod paging;
pub mod tenant_url;

pub use paging::{list_all, ListError};
pub use tenant_url::{TenantUrl, TenantUrlError};
