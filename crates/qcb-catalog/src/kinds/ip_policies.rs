//! IP allow-list policies.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    restore_note:
        "Restored disabled, then enabled by hand: an allow-list can lock the restore out.",
    ..ComponentKind::new(
        "ip-policies",
        "tenant/ip-policies",
        Source::List {
            path: "/api/core/ip-policies",
            query: "limit=100",
            property: "data",
        },
    )
};
