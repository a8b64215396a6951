//! The licence: product, allotments, validity.

use crate::{secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    secrets: &[secret("/licenseKey")],
    restore: Restore::Reference,
    restore_note: "The licence itself belongs to the subscription; kept for the record.",
    ..ComponentKind::new(
        "license-overview",
        "identity/licenses/overview",
        Source::Singleton {
            path: "/api/v1/licenses/overview",
        },
    )
};
