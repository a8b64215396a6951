//! One row per component kind. Paths, paging parameters, limits (min/default/max), list
//! properties and success statuses are copied from each operation in `specs/qlik/rest`;
//! the contract test checks every response against those specs.

use std::sync::OnceLock;

use super::build::Stamp::*;
use super::{everyone, KindSpec, ListExtras};
use crate::paging::{Limits, Paging};
use crate::state::IdStyle;
use crate::visibility;

const L100: Limits = Limits {
    min: 1,
    default: Some(20),
    max: Some(100),
};
const L10: Limits = Limits {
    min: 1,
    default: Some(10),
    max: Some(100),
};

const BASE: KindSpec = KindSpec {
    name: "",
    spec: "",
    list_path: None,
    item_path: None,
    legacy_paths: None,
    id_field: "id",
    id_style: IdStyle::Hex24,
    parent_field: None,
    paging: Paging::Next,
    limits: L100,
    list_property: "data",
    list_extras: ListExtras::None,
    links_always: false,
    filters: &[],
    get_only_fields: &[],
    create: Some(201),
    put: None,
    patch: None,
    delete: true,
    stamps: &[],
    custom_build: None,
    visible: everyone,
};

pub fn kinds() -> &'static [KindSpec] {
    static KINDS: OnceLock<Vec<KindSpec>> = OnceLock::new();
    KINDS.get_or_init(build_table)
}

fn build_table() -> Vec<KindSpec> {
    vec![
        // ---- identity and access
        KindSpec {
            name: "users",
            spec: "users.json",
            list_path: Some("/api/v1/users"),
            item_path: Some("/api/v1/users/{userId}"),
            list_extras: ListExtras::TotalResults,
            filters: &[
                ("subject", "/subject"),
                ("email", "/email"),
                ("status", "/status"),
            ],
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("lastUpdatedAt"),
                SelfLink,
                Default("status", "\"invited\""),
                Default("assignedRoles", "[]"),
                Default("assignedGroups", "[]"),
            ],
            custom_build: Some(crate::seed::identity::build_user),
            ..BASE
        },
        KindSpec {
            name: "groups",
            spec: "groups.json",
            list_path: Some("/api/v1/groups"),
            item_path: Some("/api/v1/groups/{groupId}"),
            list_extras: ListExtras::TotalResults,
            filters: &[("name", "/name")],
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("lastUpdatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                SelfLink,
                Default("status", "\"active\""),
                Default("providerType", "\"custom\""),
                Default("assignedRoles", "[]"),
            ],
            ..BASE
        },
        KindSpec {
            name: "roles",
            spec: "roles.json",
            list_path: Some("/api/v1/roles"),
            item_path: Some("/api/v1/roles/{id}"),
            list_extras: ListExtras::TotalResults,
            filters: &[("name", "/name"), ("type", "/type")],
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("lastUpdatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                SelfLink,
                Default("type", "\"custom\""),
                Default("level", "\"user\""),
                Default("description", "\"\""),
                Default("canEdit", "true"),
                Default("canDelete", "true"),
            ],
            ..BASE
        },
        KindSpec {
            name: "identity-providers",
            spec: "identity-providers.json",
            list_path: Some("/api/v1/identity-providers"),
            item_path: Some("/api/v1/identity-providers/{id}"),
            id_style: IdStyle::Uuid,
            filters: &[("active", "/active")],
            patch: Some(204),
            stamps: &[Default("active", "true")],
            custom_build: Some(crate::seed::identity::build_idp),
            ..BASE
        },
        KindSpec {
            name: "api-keys",
            spec: "api-keys.json",
            list_path: Some("/api/v1/api-keys"),
            item_path: Some("/api/v1/api-keys/{id}"),
            paging: Paging::StartingAfter,
            filters: &[("sub", "/sub"), ("status", "/status")],
            create: None,
            stamps: &[
                Tenant("tenantId"),
                Created("created"),
                Updated("lastUpdated"),
                Creator("createdByUser"),
            ],
            ..BASE
        },
        // ---- spaces
        KindSpec {
            name: "spaces",
            spec: "spaces.json",
            list_path: Some("/api/v1/spaces"),
            item_path: Some("/api/v1/spaces/{spaceId}"),
            limits: L10,
            list_extras: ListExtras::MetaCount,
            filters: &[
                ("type", "/type"),
                ("name", "/name"),
                ("ownerId", "/ownerId"),
            ],
            put: Some(200),
            patch: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                OwnerUnlessGiven("ownerId"),
                SelfLink,
            ],
            custom_build: Some(crate::seed::spaces::build_space),
            visible: visibility::space,
            ..BASE
        },
        KindSpec {
            name: "space-assignments",
            spec: "spaces.json",
            list_path: Some("/api/v1/spaces/{spaceId}/assignments"),
            item_path: Some("/api/v1/spaces/{spaceId}/assignments/{assignmentId}"),
            parent_field: Some("spaceId"),
            limits: L10,
            list_extras: ListExtras::MetaCount,
            filters: &[("type", "/type"), ("assigneeId", "/assigneeId")],
            put: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Parent("spaceId"),
                SelfLink,
            ],
            custom_build: Some(crate::seed::spaces::build_assignment),
            ..BASE
        },
        KindSpec {
            name: "space-shares",
            spec: "spaces.json",
            list_path: Some("/api/v1/spaces/{spaceId}/shares"),
            item_path: Some("/api/v1/spaces/{spaceId}/shares/{shareId}"),
            parent_field: Some("spaceId"),
            limits: L10,
            list_extras: ListExtras::MetaCount,
            filters: &[("type", "/type"), ("resourceId", "/resourceId")],
            patch: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Parent("spaceId"),
                SelfLink,
                Default("resourceType", "\"app\""),
            ],
            ..BASE
        },
        // ---- tenant configuration
        KindSpec {
            name: "csp-origins",
            spec: "csp-origins.json",
            list_path: Some("/api/v1/csp-origins"),
            item_path: Some("/api/v1/csp-origins/{id}"),
            filters: &[("name", "/name"), ("origin", "/origin")],
            put: Some(200),
            stamps: &[Created("createdDate"), Updated("modifiedDate")],
            ..BASE
        },
        KindSpec {
            name: "ip-policies",
            spec: "core-ip-policies.json",
            list_path: Some("/api/core/ip-policies"),
            item_path: Some("/api/core/ip-policies/{id}"),
            paging: Paging::Page,
            list_extras: ListExtras::TotalResults,
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Default("editable", "true"),
                Default("deletable", "true"),
                Default("toggleable", "true"),
                Default("enabled", "false"),
            ],
            ..BASE
        },
        KindSpec {
            name: "brands",
            spec: "brands.json",
            list_path: Some("/api/v1/brands"),
            item_path: Some("/api/v1/brands/{brand-id}"),
            paging: Paging::StartingAfter,
            limits: Limits {
                min: 1,
                default: Some(5),
                max: Some(100),
            },
            create: None, // multipart, served by crate::files
            patch: Some(204),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
            ],
            ..BASE
        },
        KindSpec {
            name: "pinned-links",
            spec: "ui-config.json",
            list_path: Some("/api/v1/ui-config/pinned-links"),
            item_path: Some("/api/v1/ui-config/pinned-links/{id}"),
            paging: Paging::None,
            limits: Limits {
                min: 1,
                default: None,
                max: None,
            },
            patch: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Default("type", "\"custom-link\""),
                Default("scope", "\"tenant\""),
            ],
            ..BASE
        },
        KindSpec {
            name: "web-integrations",
            spec: "web-integrations.json",
            list_path: Some("/api/v1/web-integrations"),
            item_path: Some("/api/v1/web-integrations/{id}"),
            paging: Paging::StartingAfter,
            limits: Limits {
                min: 0,
                default: Some(10),
                max: Some(100),
            },
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("created"),
                Updated("lastUpdated"),
                Creator("createdBy"),
                Default("validOrigins", "[]"),
            ],
            ..BASE
        },
        KindSpec {
            name: "oauth-clients",
            spec: "oauth-clients.json",
            list_path: Some("/api/v1/oauth-clients"),
            item_path: Some("/api/v1/oauth-clients/{id}"),
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
            ],
            custom_build: Some(crate::seed::config::build_oauth_client),
            ..BASE
        },
        KindSpec {
            name: "webhooks",
            spec: "webhooks.json",
            list_path: Some("/api/v1/webhooks"),
            item_path: Some("/api/v1/webhooks/{id}"),
            id_style: IdStyle::Uuid,
            filters: &[
                ("name", "/name"),
                ("enabled", "/enabled"),
                ("level", "/level"),
                ("ownerId", "/ownerId"),
            ],
            put: Some(200),
            patch: Some(204),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdByUserId"),
                Updater("updatedByUserId"),
                OwnerUnlessGiven("ownerId"),
                Default("origin", "\"api\""),
                Default("level", "\"tenant\""),
                Default("enabled", "true"),
            ],
            custom_build: Some(crate::seed::config::build_webhook),
            ..BASE
        },
        // ---- content
        KindSpec {
            name: "items",
            spec: "items.json",
            list_path: Some("/api/v1/items"),
            item_path: Some("/api/v1/items/{itemId}"),
            limits: L10,
            filters: &[
                ("resourceType", "/resourceType"),
                ("resourceId", "/resourceId"),
                ("resourceSubType", "/resourceSubType"),
                ("spaceId", "/spaceId"),
                ("ownerId", "/ownerId"),
                ("name", "/name"),
                ("id", "/id"),
                ("collectionId", "/collectionIds"),
            ],
            create: None,
            put: Some(200),
            delete: false,
            visible: visibility::item,
            ..BASE
        },
        KindSpec {
            name: "data-connections",
            spec: "data-connections.json",
            list_path: Some("/api/v1/data-connections"),
            item_path: Some("/api/v1/data-connections/{qID}"),
            id_field: "qID",
            id_style: IdStyle::Uuid,
            paging: Paging::Page,
            limits: Limits {
                min: 1,
                default: None,
                max: Some(100),
            },
            list_extras: ListExtras::MetaCount,
            filters: &[("spaceId", "/space"), ("userId", "/user")],
            get_only_fields: &["qConnectionSecret"],
            put: Some(204),
            patch: Some(204),
            stamps: &[
                Tenant("tenant"),
                Created("created"),
                Updated("updated"),
                Creator("user"),
            ],
            custom_build: Some(crate::seed::connections::build_data_connection),
            visible: visibility::data_connection,
            ..BASE
        },
        KindSpec {
            name: "themes",
            spec: "themes.json",
            list_path: Some("/api/v1/themes"),
            item_path: Some("/api/v1/themes/{id}"),
            paging: Paging::None,
            limits: Limits {
                min: 1,
                default: None,
                max: None,
            },
            create: None, // multipart, served by crate::files
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updateAt"),
                Creator("userId"),
            ],
            ..BASE
        },
        KindSpec {
            name: "extensions",
            spec: "extensions.json",
            list_path: Some("/api/v1/extensions"),
            item_path: Some("/api/v1/extensions/{id}"),
            paging: Paging::None,
            limits: Limits {
                min: 1,
                default: None,
                max: None,
            },
            create: None, // multipart, served by crate::files
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updateAt"),
                Creator("userId"),
            ],
            ..BASE
        },
        KindSpec {
            name: "report-templates",
            spec: "report-templates.json",
            list_path: Some("/api/v1/report-templates"),
            item_path: Some("/api/v1/report-templates/{id}"),
            id_style: IdStyle::Uuid,
            paging: Paging::Skip,
            filters: &[("sourceAppId", "/sourceAppId"), ("ownerId", "/ownerId")],
            create: None, // needs a temporary content: served by crate::files
            patch: Some(204),
            ..BASE
        },
        KindSpec {
            name: "glossaries",
            spec: "glossaries.json",
            list_path: Some("/api/v1/glossaries"),
            item_path: Some("/api/v1/glossaries/{id}"),
            id_style: IdStyle::Uuid,
            list_extras: ListExtras::MetaCount,
            put: Some(200),
            patch: Some(204),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                OwnerUnlessGiven("ownerId"),
                Default("tags", "[]"),
                Default("overview", "\"\""),
                Default("description", "\"\""),
                Default("spaceId", "\"\""),
                Default("termTemplate", "{\"relatedInformation\":\"\"}"),
            ],
            ..BASE
        },
        KindSpec {
            name: "glossary-categories",
            spec: "glossaries.json",
            list_path: Some("/api/v1/glossaries/{id}/categories"),
            item_path: Some("/api/v1/glossaries/{id}/categories/{categoryId}"),
            id_style: IdStyle::Uuid,
            parent_field: Some("glossaryId"),
            list_extras: ListExtras::MetaCount,
            put: Some(200),
            patch: Some(204),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Parent("glossaryId"),
                Default("stewards", "[]"),
                Default("description", "\"\""),
            ],
            ..BASE
        },
        KindSpec {
            name: "glossary-terms",
            spec: "glossaries.json",
            list_path: Some("/api/v1/glossaries/{id}/terms"),
            item_path: Some("/api/v1/glossaries/{id}/terms/{termId}"),
            id_style: IdStyle::Uuid,
            parent_field: Some("glossaryId"),
            list_extras: ListExtras::MetaCount,
            put: Some(200),
            patch: Some(204),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("createdBy"),
                Updater("updatedBy"),
                Parent("glossaryId"),
                Default("abbreviation", "\"\""),
                Default("description", "\"\""),
                Default("linksTo", "[]"),
                Default("categories", "[]"),
                Default("relatedInformation", "\"\""),
                Default("stewards", "[]"),
                Default("tags", "[]"),
                Default("status", "\"draft\""),
                Default("revision", "1"),
            ],
            ..BASE
        },
        KindSpec {
            name: "collections",
            spec: "collections.json",
            list_path: Some("/api/v1/collections"),
            item_path: Some("/api/v1/collections/{collectionId}"),
            limits: L10,
            filters: &[
                ("type", "/type"),
                ("name", "/name"),
                ("creatorId", "/creatorId"),
            ],
            put: Some(200),
            patch: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Created("createdAt"),
                Updated("updatedAt"),
                Creator("creatorId"),
                Updater("updaterId"),
                SelfLink,
                Default("itemCount", "0"),
            ],
            visible: visibility::collection,
            ..BASE
        },
        // ---- automation, tasks, alerts
        KindSpec {
            name: "automations",
            spec: "workflows-automations.json",
            list_path: Some("/api/workflows/automations"),
            item_path: Some("/api/workflows/automations/{id}"),
            legacy_paths: Some(("/api/v1/automations", "/api/v1/automations/{id}")),
            id_style: IdStyle::Uuid,
            paging: Paging::Cursor,
            limits: Limits {
                min: 1,
                default: Some(100),
                max: Some(200),
            },
            put: Some(200),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                OwnerUnlessGiven("ownerId"),
                Default("state", "\"available\""),
                Default("runMode", "\"manual\""),
                Default("schedules", "[]"),
            ],
            custom_build: Some(crate::seed::automations::build_automation),
            visible: visibility::automation,
            ..BASE
        },
        KindSpec {
            name: "automation-connections",
            spec: "workflows-automation-connections.json",
            list_path: Some("/api/workflows/automation-connections"),
            item_path: Some("/api/workflows/automation-connections/{id}"),
            legacy_paths: Some((
                "/api/v1/automation-connections",
                "/api/v1/automation-connections/{id}",
            )),
            id_style: IdStyle::Uuid,
            paging: Paging::Cursor,
            limits: Limits {
                min: 1,
                default: Some(100),
                max: Some(200),
            },
            put: Some(200),
            stamps: &[
                Created("createdAt"),
                Updated("updatedAt"),
                OwnerUnlessGiven("ownerId"),
                Default("isConnected", "false"),
            ],
            visible: visibility::owned_unless_list_all,
            ..BASE
        },
        KindSpec {
            name: "reload-tasks",
            spec: "reload-tasks.json",
            list_path: Some("/api/v1/reload-tasks"),
            item_path: Some("/api/v1/reload-tasks/{taskId}"),
            limits: L10,
            filters: &[("appId", "/appId")],
            put: Some(200),
            stamps: &[
                Tenant("tenantId"),
                Creator("userId"),
                SelfLink,
                Default("state", "\"Enabled\""),
                Default("timeZone", "\"UTC\""),
            ],
            ..BASE
        },
        KindSpec {
            name: "scheduling-tasks",
            spec: "scheduling-tasks.json",
            list_path: Some("/api/scheduling/tasks"),
            item_path: Some("/api/scheduling/tasks/{id}"),
            paging: Paging::Page,
            filters: &[("resourceId", "/resourceId")],
            put: Some(200),
            patch: Some(204),
            stamps: &[
                Default("enabled", "false"),
                Default("specVersion", "\"0.8\""),
            ],
            custom_build: Some(crate::seed::tasks::build_scheduling_task),
            ..BASE
        },
        KindSpec {
            name: "sharing-tasks",
            spec: "sharing-tasks.json",
            list_path: Some("/api/v1/sharing-tasks"),
            item_path: Some("/api/v1/sharing-tasks/{taskId}"),
            paging: Paging::Next,
            list_property: "sharingTasks",
            list_extras: ListExtras::PageCounts,
            filters: &[
                ("appid", "/appId"),
                ("type", "/type"),
                ("templateId", "/templateId"),
            ],
            patch: Some(204),
            stamps: &[
                Created("dateCreated"),
                Updated("lastUpdated"),
                Creator("createdBy"),
                Updater("updatedBy"),
                OwnerUnlessGiven("owner"),
                Tenant("tenant"),
            ],
            ..BASE
        },
        KindSpec {
            name: "data-alerts",
            spec: "data-alerts.json",
            list_path: Some("/api/v1/data-alerts"),
            item_path: Some("/api/v1/data-alerts/{alertId}"),
            list_property: "tasks",
            list_extras: ListExtras::PageCounts,
            filters: &[("appID", "/appId"), ("ownerId", "/ownerId")],
            create: Some(201),
            patch: Some(204),
            stamps: &[
                Tenant("tenantId"),
                Created("dateCreated"),
                Updated("lastUpdated"),
                OwnerUnlessGiven("ownerId"),
                Default("triggerStats", "{}"),
                Default("enabled", "true"),
            ],
            ..BASE
        },
        KindSpec {
            name: "conditions",
            spec: "conditions.json",
            list_path: None,
            item_path: Some("/api/v1/conditions/{conditionId}"),
            create: None,
            ..BASE
        },
        KindSpec {
            name: "odag-links",
            spec: "analytics-odag-links.json",
            list_path: Some("/api/analytics/odag-links"),
            item_path: Some("/api/analytics/odag-links/{linkId}"),
            paging: Paging::None,
            list_property: "",
            limits: Limits {
                min: 1,
                default: None,
                max: None,
            },
            create: Some(201),
            put: Some(200),
            stamps: &[
                Created("createdDate"),
                Updated("modifiedDate"),
                Default("status", "\"active\""),
                Default("rowEstExpr", "\"\""),
                Default("properties", "{}"),
            ],
            delete: false,
            ..BASE
        },
        KindSpec {
            name: "data-files",
            spec: "data-files.json",
            links_always: true,
            list_path: Some("/api/v1/data-files"),
            item_path: Some("/api/v1/data-files/{id}"),
            paging: Paging::Page,
            limits: Limits {
                min: 1,
                default: Some(20),
                max: Some(1000),
            },
            filters: &[
                ("ownerId", "/ownerId"),
                ("appId", "/appId"),
                ("connectionId", "/connectionId"),
                ("folderId", "/folderId"),
            ],
            create: None,
            ..BASE
        },
        KindSpec {
            name: "audits",
            spec: "audits.json",
            list_path: Some("/api/v1/audits"),
            item_path: Some("/api/v1/audits/{id}"),
            limits: L10,
            filters: &[
                ("eventType", "/eventType"),
                ("source", "/source"),
                ("userId", "/userId"),
            ],
            create: None,
            delete: false,
            ..BASE
        },
        KindSpec {
            name: "license-assignments",
            spec: "licenses.json",
            list_path: Some("/api/v1/licenses/assignments"),
            item_path: None,
            id_field: "subject",
            paging: Paging::Page,
            create: None,
            delete: false,
            ..BASE
        },
    ]
}
