//! Data connections (metadata, without credentials).

use crate::{refers, secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/qName", "/space"],
        id_field: "qID",
        name_field: "qName",
        secrets: &[secret("/qPassword"), secret("/qConnectionSecret"), secret("/qri")],
        scan: &["/qConnectStatement"],
        references: &[refers("/space", "spaces"), refers("/user", "users")],
        restore: Restore::Recreate,
        restore_note: "Recreated with the same ID and name, so scripts keep working; passwords and secrets are entered again.",
    // No `limit`: the spec's default is "all resources will be returned" — one request where
    // pages of 100 took one per hundred connections (paging links are still followed).
    ..ComponentKind::new("data-connections", "data-connections", Source::List { path: "/api/v1/data-connections", query: "", property: "data" })
};
