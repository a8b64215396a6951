//! Data files (metadata only).

use crate::{refers, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/spaceId"],
    references: &[refers("/spaceId", "spaces"), refers("/ownerId", "users")],
    restore: Restore::Reference,
    restore_note:
        "Qlik offers no download of a data file's content; the list says what to upload again.",
    ..ComponentKind::new(
        "data-files",
        "data-files",
        Source::List {
            path: "/api/v1/data-files",
            query: "limit=1000",
            property: "data",
        },
    )
};
