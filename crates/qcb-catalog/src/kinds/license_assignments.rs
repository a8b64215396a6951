//! Who holds which licence, by user subject.

use crate::{refers, ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/subject"],
    id_field: "subject",
    name_field: "subject",
    bundle: true,
    references: &[refers("/subject", "users")],
    restore_note: "Assigned again by user subject, which is the same in any tenant.",
    ..ComponentKind::new(
        "license-assignments",
        "identity/licenses/assignments",
        Source::List {
            path: "/api/v1/licenses/assignments",
            query: "limit=100",
            property: "data",
        },
    )
};
