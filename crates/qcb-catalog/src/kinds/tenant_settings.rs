//! Tenant settings: start page, release cadence, cross-region processing.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "tenant-settings",
        "tenant/settings/tenant-settings",
        Source::Singleton {
            path: "/api/v1/tenant-settings",
        },
    )
};
