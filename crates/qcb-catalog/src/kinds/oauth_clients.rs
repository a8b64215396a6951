//! OAuth clients.

use crate::{secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/clientName"],
    id_field: "clientId",
    name_field: "clientName",
    secrets: &[secret("/clientSecret")],
    restore: Restore::Recreate,
    restore_note:
        "A restored OAuth client has a new client ID and secret: every consumer is updated.",
    ..ComponentKind::new(
        "oauth-clients",
        "oauth-clients",
        Source::List {
            path: "/api/v1/oauth-clients",
            query: "limit=100",
            property: "data",
        },
    )
};
