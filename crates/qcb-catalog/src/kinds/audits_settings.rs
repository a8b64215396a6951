//! Audit retention.

use crate::{ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    restore: Restore::Reference,
    restore_note: "Read-only.",
    ..ComponentKind::new(
        "audits-settings",
        "tenant/settings/audits-settings",
        Source::Singleton {
            path: "/api/v1/audits/settings",
        },
    )
};
