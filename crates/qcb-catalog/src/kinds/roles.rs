//! Roles (default and custom).

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    restore_note: "Custom roles only; default roles exist in every tenant.",
    ..ComponentKind::new(
        "roles",
        "identity/roles",
        Source::List {
            path: "/api/v1/roles",
            query: "limit=100",
            property: "data",
        },
    )
};
