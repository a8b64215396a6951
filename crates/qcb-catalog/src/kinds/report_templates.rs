//! Report templates, with their file.

use crate::{refers, ComponentKind, FileSpec, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/sourceAppId"],
    files: &[FileSpec {
        extension: "bin",
        method: "POST",
        path: "/api/v1/report-templates/{id}/actions/download",
    }],
    references: &[refers("/sourceAppId", "apps")],
    restore_note: "Uploaded again after apps, pointed at the new app (sourceAppAction=replace).",
    ..ComponentKind::new(
        "report-templates",
        "report-templates",
        Source::List {
            path: "/api/v1/report-templates",
            query: "limit=100",
            property: "data",
        },
    )
};
