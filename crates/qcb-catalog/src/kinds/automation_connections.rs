//! Automation connections (without credentials).

use crate::{refers, ComponentKind, Restore, Secret, Source, When};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/connectorId"],
    legacy: Some(Source::List {
        path: "/api/v1/automation-connections",
        query: "listAll=true&limit=200",
        property: "data",
    }),
    get_one: Some("/api/workflows/automation-connections/{id}"),
    // Personal to their owner, as automations are: read as the owner when refused.
    read_as_owner: Some("/ownerId"),
    secrets: &[Secret {
        pointer: "/params/*/value",
        when: Some(When {
            sibling: "fieldType",
            contains: &["password", "secret", "token", "key"],
        }),
    }],
    references: &[refers("/ownerId", "users"), refers("/spaceId", "spaces")],
    restore: Restore::Recreate,
    restore_note: "Credentials and OAuth consent are given again.",
    ..ComponentKind::new(
        "automation-connections",
        "automation-connections",
        Source::List {
            path: "/api/workflows/automation-connections",
            query: "listAll=true&limit=200",
            property: "data",
        },
    )
};
