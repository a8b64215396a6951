//! Groups and their roles.

use crate::{refers, ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    references: &[refers("/assignedRoles/*/id", "roles")],
    ..ComponentKind::new(
        "groups",
        "identity/groups",
        Source::List {
            path: "/api/v1/groups",
            query: "limit=100",
            property: "data",
        },
    )
};
