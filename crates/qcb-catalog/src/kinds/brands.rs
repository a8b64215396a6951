//! Custom brands (logo, favicon, styles).

use crate::{ComponentKind, FileSpec, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name"],
    files: &[
        FileSpec {
            extension: "logo",
            method: "GET",
            path: "/api/v1/brands/{id}/files/logo",
        },
        FileSpec {
            extension: "favIcon",
            method: "GET",
            path: "/api/v1/brands/{id}/files/favIcon",
        },
        FileSpec {
            extension: "styles",
            method: "GET",
            path: "/api/v1/brands/{id}/files/styles",
        },
    ],
    ..ComponentKind::new(
        "brands",
        "tenant/brands",
        Source::List {
            path: "/api/v1/brands",
            query: "limit=100",
            property: "data",
        },
    )
};
