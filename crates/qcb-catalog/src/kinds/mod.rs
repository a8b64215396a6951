//! Every kind, in restore order (DESIGN.md §4: tenant settings → roles, groups, users →
//! spaces → connections → themes, extensions → apps → templates → tasks → sharing, alerts,
//! collections, glossaries → automation connections, automations → webhooks, integrations,
//! OAuth clients).

use crate::ComponentKind;

pub mod api_keys;
pub mod api_keys_config;
pub mod apps;
pub mod audits_settings;
pub mod auth_settings;
pub mod automation_connections;
pub mod automations;
pub mod automations_settings;
pub mod banners;
pub mod brands;
pub mod collections;
pub mod conditions_settings;
pub mod csp_origins;
pub mod data_alerts;
pub mod data_alerts_settings;
pub mod data_connections;
pub mod data_files;
pub mod email_config;
pub mod encryption_keys;
pub mod extensions;
pub mod glossaries;
pub mod group_settings;
pub mod groups;
pub mod identity_providers;
pub mod ip_policies;
pub mod items_settings;
pub mod license_assignments;
pub mod license_overview;
pub mod license_settings;
pub mod oauth_clients;
pub mod odag_links;
pub mod odag_settings;
pub mod pinned_links;
pub mod reload_tasks;
pub mod report_templates;
pub mod roles;
pub mod scheduling_tasks;
pub mod sharing_settings;
pub mod sharing_tasks;
pub mod spaces;
pub mod tenant;
pub mod tenant_settings;
pub mod themes;
pub mod users;
pub mod web_integrations;
pub mod webhooks;

/// Every kind, in restore order.
pub const ALL: &[&ComponentKind] = &[
    &tenant::KIND,
    &tenant_settings::KIND,
    &auth_settings::KIND,
    &email_config::KIND,
    &banners::KIND,
    &group_settings::KIND,
    &license_settings::KIND,
    &license_overview::KIND,
    &items_settings::KIND,
    &sharing_settings::KIND,
    &data_alerts_settings::KIND,
    &conditions_settings::KIND,
    &automations_settings::KIND,
    &audits_settings::KIND,
    &odag_settings::KIND,
    &api_keys_config::KIND,
    &encryption_keys::KIND,
    &ip_policies::KIND,
    &csp_origins::KIND,
    &brands::KIND,
    &pinned_links::KIND,
    &roles::KIND,
    &groups::KIND,
    &users::KIND,
    &license_assignments::KIND,
    &identity_providers::KIND,
    &api_keys::KIND,
    &spaces::KIND,
    &data_connections::KIND,
    &data_files::KIND,
    &themes::KIND,
    &extensions::KIND,
    &apps::KIND,
    &report_templates::KIND,
    &reload_tasks::KIND,
    &scheduling_tasks::KIND,
    &sharing_tasks::KIND,
    &data_alerts::KIND,
    &collections::KIND,
    &glossaries::KIND,
    &odag_links::KIND,
    &automation_connections::KIND,
    &automations::KIND,
    &webhooks::KIND,
    &web_integrations::KIND,
    &oauth_clients::KIND,
];

pub fn all() -> &'static [&'static ComponentKind] {
    ALL
}

pub fn kind(name: &str) -> Option<&'static ComponentKind> {
    ALL.iter().copied().find(|k| k.name == name)
}

/// For an error about an unknown kind `name`: `; did you mean 'apps'?` when one kind's name is
/// close to it (a typo, a singular, another case), else nothing.
pub fn did_you_mean(name: &str) -> String {
    let wanted = name.trim().to_lowercase();
    ALL.iter()
        .map(|k| (strsim::jaro_winkler(&wanted, k.name), k.name))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| format!("; did you mean '{k}'?"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn a_near_miss_names_the_kind_meant_and_nonsense_names_none() {
        for (typo, meant) in [
            ("appz", "apps"),
            ("app", "apps"),
            ("Spaces", "spaces"),
            ("webhook", "webhooks"),
            ("reload-task", "reload-tasks"),
            ("data-conections", "data-connections"),
        ] {
            assert_eq!(did_you_mean(typo), format!("; did you mean '{meant}'?"));
        }
        for nonsense in ["", "zzzz", "everything"] {
            assert_eq!(did_you_mean(nonsense), "", "{nonsense}");
        }
    }

    #[test]
    fn names_and_folders_are_unique() {
        let names: HashSet<_> = ALL.iter().map(|k| k.name).collect();
        assert_eq!(names.len(), ALL.len());
        let folders: HashSet<_> = ALL.iter().map(|k| k.folder).collect();
        assert_eq!(folders.len(), ALL.len());
    }

    #[test]
    fn references_name_known_kinds() {
        for k in ALL {
            for r in k.references {
                assert!(
                    kind(r.kind).is_some() || r.kind == "data-credentials",
                    "{} refers to unknown kind {}",
                    k.name,
                    r.kind
                );
            }
        }
    }
}
