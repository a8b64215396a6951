//! Scheduling tasks, including chained tasks.

use crate::{refers, ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    references: &[
        refers("/resourceId", "apps"),
        refers("/metadata/ownerId", "users"),
    ],
    restore_note: "Recreated after apps in dependency order, chained tasks after the tasks they wait on; created as its owner when the OAuth client may impersonate users, else it runs as the restorer.",
    ..ComponentKind::new(
        "scheduling-tasks",
        "scheduling-tasks",
        Source::List {
            path: "/api/scheduling/tasks",
            query: "limit=100",
            property: "data",
        },
    )
};
