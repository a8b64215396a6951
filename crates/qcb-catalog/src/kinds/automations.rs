//! Automations with their block graph.

use crate::{refers, secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/spaceId"],
        legacy: Some(Source::List { path: "/api/v1/automations", query: "listAll=true&limit=200", property: "data" }),
        get_one: Some("/api/workflows/automations/{id}"),
        // "The requesting user must be the owner of the automation" (spec, GET one).
        read_as_owner: Some("/ownerId"),
        secrets: &[secret("/executionToken")],
        scan: &["/workspace"],
        references: &[refers("/ownerId", "users"), refers("/spaceId", "spaces")],
        restore: Restore::Recreate,
        restore_note: "Recreated with app and connection IDs in the blocks remapped; webhook-triggered ones get a new execution token.",
    ..ComponentKind::new("automations", "automations", Source::List { path: "/api/workflows/automations", query: "listAll=true&limit=200", property: "data" })
};
