//! Sharing tasks: subscriptions, chart monitoring, report tasks.

use crate::{refers, secret, ComponentKind, Restore, Source};

pub const KIND: ComponentKind = ComponentKind {
    match_on: &["/name", "/appId"],
        secrets: &[secret("/encryptedState"), secret("/encryptedTemplates"), secret("/encryptedEmailContent")],
        references: &[refers("/appId", "apps"), refers("/templates/*/templateId", "report-templates"), refers("/owner", "users")],
        restore: Restore::Recreate,
        restore_note: "Recreated after apps, report templates and users from the plain fields; the encrypted copies are not kept.",
    ..ComponentKind::new("sharing-tasks", "sharing-tasks", Source::List { path: "/api/v1/sharing-tasks", query: "limit=100", property: "sharingTasks" })
};
