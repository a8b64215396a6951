//! On-demand app generation links.

use crate::{refers, ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    references: &[refers("/templateApp/id", "apps")],
    restore_note: "Recreated after apps (selection and template apps remapped).",
    ..ComponentKind::new(
        "odag-links",
        "odag-links",
        Source::List {
            path: "/api/analytics/odag-links",
            query: "",
            property: "",
        },
    )
};
