//! Content-security-policy origins.

use crate::{ComponentKind, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/origin"],
    ..ComponentKind::new(
        "csp-origins",
        "csp-origins",
        Source::List {
            path: "/api/v1/csp-origins",
            query: "limit=100",
            property: "data",
        },
    )
};
