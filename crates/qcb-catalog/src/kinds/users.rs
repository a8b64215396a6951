//! Users, with their roles and groups.

use crate::{refers, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/subject"],
        references: &[refers("/assignedRoles/*/id", "roles"), refers("/assignedGroups/*/id", "groups")],
        restore: Restore::Recreate,
        restore_note: "Users are pre-provisioned by subject and get new IDs; owners are remapped by subject. Most come back from the IdP at their next login.",
    ..ComponentKind::new("users", "identity/users", Source::List { path: "/api/v1/users", query: "limit=100", property: "data" })
};
