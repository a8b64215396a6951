//! Spaces, with who may use them (assignments) and per-app shares.

use crate::{refers, ComponentKind, Source, Sub};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/type"],
    subs: &[
        Sub {
            name: "assignments",
            path: "/api/v1/spaces/{id}/assignments",
            list: Some(("limit=100", "data")),
        },
        Sub {
            name: "shares",
            path: "/api/v1/spaces/{id}/shares",
            list: Some(("limit=100", "data")),
        },
    ],
    references: &[
        refers("/ownerId", "users"),
        refers("/assignments/*/assigneeId", "users"),
    ],
    restore_note: "Created by name and type; assignments follow with user and group IDs remapped.",
    ..ComponentKind::new(
        "spaces",
        "spaces",
        Source::List {
            path: "/api/v1/spaces",
            query: "limit=100",
            property: "data",
        },
    )
};
