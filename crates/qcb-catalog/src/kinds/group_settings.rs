//! Group creation and IdP group sync, system group roles.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "group-settings",
        "tenant/settings/group-settings",
        Source::Singleton {
            path: "/api/v1/groups/settings",
        },
    )
};
