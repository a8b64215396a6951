//! API key limits and expiry.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "api-keys-config",
        "tenant/settings/api-keys-config",
        Source::Singleton {
            path: "/api/v1/api-keys/configs/{tenantId}",
        },
    )
};
