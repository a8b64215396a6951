//! Links pinned in the hub.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/link"],
    ..ComponentKind::new(
        "pinned-links",
        "tenant/pinned-links",
        Source::List {
            path: "/api/v1/ui-config/pinned-links",
            query: "",
            property: "data",
        },
    )
};
