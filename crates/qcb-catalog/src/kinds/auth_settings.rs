//! Session timeouts and dynamic client registration.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "auth-settings",
        "tenant/settings/auth-settings",
        Source::Singleton {
            path: "/api/core/auth-settings",
        },
    )
};
