//! Extensions and visualization bundles, with their zip.

use crate::{ComponentKind, FileSpec, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/qextFilename"],
    files: &[FileSpec {
        extension: "zip",
        method: "GET",
        path: "/api/v1/extensions/{id}/file",
    }],
    ..ComponentKind::new(
        "extensions",
        "extensions",
        Source::List {
            path: "/api/v1/extensions",
            query: "",
            property: "data",
        },
    )
};
