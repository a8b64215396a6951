//! Data alerting switches.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "data-alerts-settings",
        "tenant/settings/data-alerts-settings",
        Source::Singleton {
            path: "/api/v1/data-alerts/settings",
        },
    )
};
