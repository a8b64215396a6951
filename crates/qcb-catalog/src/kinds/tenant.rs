//! The tenant itself: name, hostnames, region and tenant-wide switches.

use crate::{ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
        restore: Restore::Direct,
        restore_note: "The settings a PATCH can change (name, auto-assign options, analytic creation) are patched back.",
    ..ComponentKind::new("tenant", "tenant/tenant", Source::Singleton { path: "/api/v1/tenants/me" })
};
