//! Apps: attributes, item, owner, space, publish lineage, and the export without data.

use crate::{refers, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
        id_field: "resourceId",
        get_one: Some("/api/v1/apps/{id}"),
        scan: &[],
        references: &[refers("/ownerId", "users"), refers("/spaceId", "spaces")],
        restore: Restore::Recreate,
        restore_note: "Imported (always a new app ID), then owner, space and publishing are set again; every reference to the app is remapped.",
    ..ComponentKind::new("apps", "apps", Source::List { path: "/api/v1/items", query: "resourceType=app&limit=100", property: "data" })
};
