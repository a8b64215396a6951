//! On-demand app generation switches.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "odag-settings",
        "tenant/settings/odag-settings",
        Source::Singleton {
            path: "/api/analytics/odag-settings",
        },
    )
};
