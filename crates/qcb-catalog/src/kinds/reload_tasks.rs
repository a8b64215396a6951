//! Reload tasks (the deprecated API).

use crate::{refers, ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/appId", "/recurrence"],
    references: &[
        refers("/appId", "apps"),
        refers("/userId", "users"),
        refers("/spaceId", "spaces"),
    ],
    restore_note: "Recreated after apps, with the new app IDs (deprecated API, sunset 2026-09); created as its owner when the OAuth client may impersonate users, else it runs as the restorer.",
    ..ComponentKind::new(
        "reload-tasks",
        "reload-tasks",
        Source::List {
            path: "/api/v1/reload-tasks",
            query: "limit=100",
            property: "data",
        },
    )
};
