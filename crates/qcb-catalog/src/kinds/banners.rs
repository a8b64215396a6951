//! The tenant banner shown to every user.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    ..ComponentKind::new(
        "banners",
        "tenant/settings/banners",
        Source::Singleton {
            path: "/api/v1/banners",
        },
    )
};
