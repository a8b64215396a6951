//! Webhooks.

use crate::{refers, secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/url"],
    secrets: &[secret("/secret"), secret("/headers/*")],
    references: &[refers("/ownerId", "users")],
    restore: Restore::Recreate,
    restore_note: "The signing secret and header values are entered again.",
    ..ComponentKind::new(
        "webhooks",
        "webhooks",
        Source::List {
            path: "/api/v1/webhooks",
            query: "limit=100",
            property: "data",
        },
    )
};
