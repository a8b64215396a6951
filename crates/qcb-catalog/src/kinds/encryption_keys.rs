//! Customer-managed encryption key providers.

use crate::{secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    secrets: &[secret("/errors/*/arn"), secret("/*/arn")],
    restore: Restore::Recreate,
    restore_note: "Customer-managed keys (BYOK) are set up again by hand: the ARN is not stored.",
    ..ComponentKind::new(
        "encryption-keyproviders",
        "tenant/settings/encryption-keyproviders",
        Source::Singleton {
            path: "/api/v1/encryption/keyproviders",
        },
    )
};
