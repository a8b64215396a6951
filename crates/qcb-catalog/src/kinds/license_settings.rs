//! Automatic licence assignment.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "license-settings",
        "identity/licenses/settings",
        Source::Singleton {
            path: "/api/v1/licenses/settings",
        },
    )
};
