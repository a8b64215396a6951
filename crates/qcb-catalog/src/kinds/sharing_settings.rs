//! Sharing and report subscriptions switches.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "sharing-tasks-settings",
        "tenant/settings/sharing-tasks-settings",
        Source::Singleton {
            path: "/api/v1/sharing-tasks/settings",
        },
    )
};
