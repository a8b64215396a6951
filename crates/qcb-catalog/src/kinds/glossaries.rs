//! Glossaries, with categories and terms.

use crate::{refers, ComponentKind, Source, Sub};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    subs: &[Sub {
        name: "export",
        path: "/api/v1/glossaries/{id}/actions/export",
        list: None,
    }],
    references: &[refers("/spaceId", "spaces")],
    restore_note: "Imported from its export (categories, terms and links).",
    ..ComponentKind::new(
        "glossaries",
        "glossaries",
        Source::List {
            path: "/api/v1/glossaries",
            query: "limit=100",
            property: "data",
        },
    )
};
