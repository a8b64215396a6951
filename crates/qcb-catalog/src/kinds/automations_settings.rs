//! Automation limits.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "automations-settings",
        "tenant/settings/automations-settings",
        Source::Singleton {
            path: "/api/workflows/automations/settings",
        },
    )
};
