//! Web integrations (allowed origins for embedding).

use crate::{ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    restore: Restore::Recreate,
    restore_note: "A restored web integration has a new ID: embedding sites must be updated.",
    ..ComponentKind::new(
        "web-integrations",
        "web-integrations",
        Source::List {
            path: "/api/v1/web-integrations",
            query: "limit=100",
            property: "data",
        },
    )
};
