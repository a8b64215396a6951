//! The component kinds a tenant serves, one row each: paths, ID field, paging style, list
//! property, limits, filters and which writes exist, all taken from the kind's spec. The
//! generic handlers in `crate::generic` serve every row; code of its own lives only where a
//! kind really behaves differently (app export and import, zips, downloads).

use serde_json::Value;

use crate::auth::Principal;
use crate::error::ApiResult;
use crate::paging::{Limits, Paging};
use crate::state::{IdStyle, State};

pub mod build;
mod table;

pub use table::kinds;

/// Extra list properties besides the list itself and `links`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListExtras {
    None,
    /// `totalResults`.
    TotalResults,
    /// `meta: {count}`.
    MetaCount,
    /// `currentPageCount` and `totalCount` (the alerting APIs).
    PageCounts,
}

/// How a resource created through the API is completed with what the server owns.
pub type BuildFn = fn(&mut BuildCtx<'_>, Value) -> ApiResult<Value>;
/// Whether a principal may see a resource.
pub type VisibleFn = fn(&Viewer<'_>, &Value) -> bool;

/// Who looks, and how they asked (`listAll=true` and the like).
pub struct Viewer<'a> {
    pub state: &'a State,
    pub principal: &'a Principal,
    pub query: &'a [(String, String)],
}

pub struct BuildCtx<'a> {
    pub state: &'a mut State,
    pub now: chrono::DateTime<chrono::Utc>,
    pub principal: &'a Principal,
    pub kind: &'static KindSpec,
    /// The parent resource's ID for nested kinds (a space's assignments).
    pub parent_id: Option<String>,
    /// The ID of the resource being created, already chosen (or replaced or patched).
    pub id: String,
    pub tenant_url: String,
    /// On a replace or patch, the resource as it was: what the server owns comes from it.
    pub previous: Option<Value>,
}

pub struct KindSpec {
    /// Name in the store and in control requests, e.g. `spaces`, `space-assignments`.
    pub name: &'static str,
    /// The spec file this kind comes from (for the coverage report).
    pub spec: &'static str,
    /// The deprecated list and item paths of the same kind, served from the same documents
    /// (`/api/v1/automations` beside `/api/workflows/automations`).
    pub legacy_paths: Option<(&'static str, &'static str)>,
    /// List (GET) and create (POST) path, as the spec writes it.
    pub list_path: Option<&'static str>,
    /// Get/put/patch/delete path.
    pub item_path: Option<&'static str>,
    pub id_field: &'static str,
    pub id_style: IdStyle,
    /// For nested kinds: the JSON field that holds the parent's ID, and the parent's kind.
    pub parent_field: Option<&'static str>,
    pub parent_kind: Option<&'static str>,
    pub paging: Paging,
    pub limits: Limits,
    /// The response property holding the list: `data`, `sharingTasks`, `tasks`; empty for a bare array.
    pub list_property: &'static str,
    pub list_extras: ListExtras,
    /// `links.next`/`links.prev` are always present, `{"href": null}` at the ends (data files).
    pub links_always: bool,
    /// Query parameter → JSON pointer of the field it filters on (string equality).
    pub filters: &'static [(&'static str, &'static str)],
    /// Query parameter → JSON pointer of a time it filters on by a `from/to` interval
    /// (the audits' `eventTime`).
    pub interval_filter: Option<(&'static str, &'static str)>,
    /// The order of a list asked for without `sort`, when the spec names one (`-eventTime`).
    pub default_sort: Option<&'static str>,
    /// Fields dropped from list entries (present only when getting one, like `qConnectionSecret`).
    pub get_only_fields: &'static [&'static str],
    /// Status of a successful create, when POST on the list path creates.
    pub create: Option<u16>,
    /// Status of a successful PUT / PATCH on the item path (200 answers the resource, 204 nothing).
    pub put: Option<u16>,
    pub patch: Option<u16>,
    pub delete: bool,
    /// Fields the server fills in on create and keeps or refreshes on updates.
    pub stamps: &'static [build::Stamp],
    /// Code of the kind's own, run after stamping on create, replace and patch.
    pub custom_build: Option<BuildFn>,
    /// How the create answer differs from a GET of the same resource, where a spec says so.
    pub created_view: Option<fn(Value) -> Value>,
    pub visible: VisibleFn,
    /// What a GET (of the list or of one) shows beyond the stored document, computed as it
    /// is served (a data alert's current condition).
    pub view: Option<fn(&State, &mut Value)>,
}

impl KindSpec {
    pub fn id_of<'v>(&self, v: &'v Value) -> Option<&'v str> {
        v.get(self.id_field).and_then(Value::as_str)
    }
}

pub fn kind(name: &str) -> Option<&'static KindSpec> {
    kinds().iter().find(|k| k.name == name)
}

pub fn everyone(_: &Viewer<'_>, _: &Value) -> bool {
    true
}
