//! Data alerts with their conditions.

use crate::{refers, ComponentKind, Restore, Source, Sub};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/appId"],
    subs: &[Sub {
        name: "condition",
        path: "/api/v1/data-alerts/{id}/condition",
        list: None,
    }],
    references: &[refers("/appId", "apps"), refers("/ownerId", "users")],
    restore: Restore::Recreate,
    restore_note: "The condition is created first, then the alert, after apps and bookmarks.",
    ..ComponentKind::new(
        "data-alerts",
        "data-alerts",
        Source::List {
            path: "/api/v1/data-alerts",
            query: "limit=100",
            property: "tasks",
        },
    )
};
