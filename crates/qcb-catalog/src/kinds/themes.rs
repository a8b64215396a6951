//! Themes, with their zip.

use crate::{ComponentKind, FileSpec, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/qextFilename"],
    files: &[FileSpec {
        extension: "zip",
        method: "GET",
        path: "/api/v1/themes/{id}/file",
    }],
    ..ComponentKind::new(
        "themes",
        "themes",
        Source::List {
            path: "/api/v1/themes",
            query: "",
            property: "data",
        },
    )
};
