//! API keys (metadata; tokens are never readable).

use crate::{refers, secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/description", "/sub"],
    secrets: &[secret("/token")],
    references: &[refers("/sub", "users")],
    restore: Restore::Reference,
    restore_note: "A key's token is shown only once: consumers get new keys.",
    ..ComponentKind::new(
        "api-keys",
        "identity/api-keys",
        Source::List {
            path: "/api/v1/api-keys",
            query: "limit=100",
            property: "data",
        },
    )
};
