//! Collections and their items.

use crate::{refers, ComponentKind, Source, Sub};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/type"],
    subs: &[Sub {
        name: "items",
        path: "/api/v1/collections/{id}/items",
        list: Some(("limit=100", "data")),
    }],
    references: &[refers("/creatorId", "users")],
    restore_note: "Recreated after apps; members are remapped to the new items.",
    ..ComponentKind::new(
        "collections",
        "collections",
        Source::List {
            path: "/api/v1/collections",
            query: "limit=100",
            property: "data",
        },
    )
};
