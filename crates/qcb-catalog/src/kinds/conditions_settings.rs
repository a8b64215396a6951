//! Conditions switches.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "conditions-settings",
        "tenant/settings/conditions-settings",
        Source::Singleton {
            path: "/api/v1/conditions/settings",
        },
    )
};
