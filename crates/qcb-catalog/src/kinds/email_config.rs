//! The tenant's outgoing e-mail (SMTP or Microsoft 365).

use crate::{secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    secrets: &[
        secret("/providerConfig/password"),
        secret("/providerConfig/clientSecret"),
        secret("/emailPassword"),
    ],
    restore: Restore::Recreate,
    restore_note:
        "The SMTP password or Microsoft 365 client secret is never readable: enter it again.",
    ..ComponentKind::new(
        "email-config",
        "tenant/settings/email-config",
        Source::Singleton {
            path: "/api/v1/transports/email-config",
        },
    )
};
