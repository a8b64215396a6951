//! Usage metrics in the hub.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "items-settings",
        "tenant/settings/items-settings",
        Source::Singleton {
            path: "/api/v1/items/settings",
        },
    )
};
