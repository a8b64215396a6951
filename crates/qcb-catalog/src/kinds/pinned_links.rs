//! Links pinned in the hub.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
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
