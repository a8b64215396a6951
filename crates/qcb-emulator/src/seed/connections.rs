//! Data connections (databases through ODBC and JDBC, REST APIs, cloud storage, and the
//! DataFiles connection every shared and managed space has) and the metadata of the data
//! files those DataFiles connections hold.

use std::collections::HashSet;

use rand::Rng;
use serde_json::{json, Map, Value};

use super::Seeder;
use crate::clock::rfc3339;
use crate::error::{ApiError, ApiResult};
use crate::kinds::{BuildCtx, Viewer};
use crate::paging::query_value;
use crate::state::IdStyle;

/// The provider behind the DataFiles connection of a space (the files uploaded to it).
pub const DATAFILES_TYPE: &str = "qix-datafiles.exe";

const FULL_PRIVILEGES: &[&str] = &[
    "list",
    "read",
    "update",
    "delete",
    "change_owner",
    "change_space",
];
/// DataFiles connections belong to their space: nobody edits or deletes them.
pub(crate) const DATAFILES_PRIVILEGES: &[&str] = &["list", "read"];

const DATABASES: &[&str] = &[
    "SALES",
    "FINANCE",
    "HR",
    "OPS",
    "CRM",
    "ERP",
    "DWH",
    "LOGISTICS",
];
const AREAS: &[&str] = &[
    "finance",
    "sales",
    "marketing",
    "hr",
    "operations",
    "supply",
    "it",
    "procurement",
];

/// The kinds of connection a tenant holds, with how often each occurs.
#[derive(Clone, Copy)]
enum Flavour {
    Snowflake,
    SqlServer,
    Postgres,
    Oracle,
    Databricks,
    Jdbc,
    Rest,
    AmazonS3,
    SharePoint,
}

const FLAVOURS: &[(Flavour, u32)] = &[
    (Flavour::Snowflake, 3),
    (Flavour::SqlServer, 3),
    (Flavour::Postgres, 2),
    (Flavour::Oracle, 1),
    (Flavour::Databricks, 1),
    (Flavour::Jdbc, 2),
    (Flavour::Rest, 3),
    (Flavour::AmazonS3, 2),
    (Flavour::SharePoint, 1),
];

/// What a generated connection is made of, before it becomes a document.
struct NewConnection {
    name: String,
    q_type: &'static str,
    datasource_id: &'static str,
    statement: String,
    secret: Option<String>,
    credentials_id: Option<String>,
    space: Option<String>,
    user: String,
    created: chrono::DateTime<chrono::Utc>,
    privileges: &'static [&'static str],
    tags: Vec<&'static str>,
}

fn pick_flavour(s: &mut Seeder<'_>) -> Flavour {
    let total: u32 = FLAVOURS.iter().map(|(_, w)| w).sum();
    let mut roll = s.rng.random_range(0..total);
    for (f, w) in FLAVOURS {
        if roll < *w {
            return *f;
        }
        roll -= w;
    }
    Flavour::Rest
}

/// Provider type, data source ID, a display name and the connect statement of a flavour.
/// Database connections either carry their password inside the statement (as many older
/// tenants do: the backup must strip it) or point at separately stored credentials.
fn flavour_parts(
    s: &mut Seeder<'_>,
    f: Flavour,
    embed_password: bool,
) -> (&'static str, &'static str, String, String) {
    let db = DATABASES[s.rng.random_range(0..DATABASES.len())];
    let area = AREAS[s.rng.random_range(0..AREAS.len())];
    let host_n = s.rng.random_range(1..40);
    let pwd = |s: &mut Seeder<'_>, key: &str| {
        if embed_password {
            format!("{key}={};", s.secret("connect-statement-password"))
        } else {
            String::new()
        }
    };
    match f {
        Flavour::Snowflake => {
            let p = pwd(s, "pwd");
            ("QvOdbcConnectorPackage.exe", "snowflake", format!("Snowflake {db}"), format!(
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=snowflake;server=acme-eu.snowflakecomputing.com;port=443;database={db};warehouse=COMPUTE_WH;role=ANALYST;schema=PUBLIC;authenticator=snowflake;uid=svc_qlik;{p}\""
            ))
        }
        Flavour::SqlServer => {
            let p = pwd(s, "PWD");
            ("QvOdbcConnectorPackage.exe", "sqlserver", format!("SQL Server {db}"), format!(
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=sqlserver;host=sql{host_n:02}.corp.acme.example;port=1433;database={db};encrypt=true;TrustServerCertificate=false;UID=svc_qlik;{p}\""
            ))
        }
        Flavour::Postgres => {
            let p = pwd(s, "password");
            let lower = db.to_lowercase();
            ("QvOdbcConnectorPackage.exe", "postgres", format!("PostgreSQL {lower}"), format!(
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=pg{host_n:02}.corp.acme.example;port=5432;db={lower};SSLMode=require;user=qlik_reader;{p}\""
            ))
        }
        Flavour::Oracle => {
            let p = pwd(s, "PWD");
            ("QvOdbcConnectorPackage.exe", "oracle", format!("Oracle {db}"), format!(
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=oracle;host=ora{host_n:02}.corp.acme.example;port=1521;ServiceName={db}PDB;UID=QLIK_READ;{p}\""
            ))
        }
        Flavour::Databricks => {
            let p = pwd(s, "PWD");
            ("QvOdbcConnectorPackage.exe", "databricks", format!("Databricks {area}"), format!(
                "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=databricks;host=adb-{host_n}17.azuredatabricks.net;port=443;HTTPPath=/sql/1.0/warehouses/{area}wh;AuthMech=3;UID=token;{p}\""
            ))
        }
        Flavour::Jdbc => {
            let p = pwd(s, "password");
            let lower = db.to_lowercase();
            ("jdbc", "jdbc", format!("JDBC {lower}"), format!(
                "CUSTOM CONNECT TO \"provider=jdbc;driver=org.postgresql.Driver;url=jdbc:postgresql://pg{host_n:02}.corp.acme.example:5432/{lower};user=qlik;{p}\""
            ))
        }
        Flavour::Rest => {
            let (auth, p) = if embed_password {
                ("basic;userName=api_reader", pwd(s, "password"))
            } else {
                ("anonymous", String::new())
            };
            ("QvRestConnector.exe", "rest", format!("REST {area} API"), format!(
                "CUSTOM CONNECT TO \"provider=QvRestConnector.exe;url=https://api.{area}.acme.example/v2/records;timeout=30;method=GET;httpProtocol=1.1;isKeepAlive=true;bodyEncoding=UTF-8;sendExpect100Continue=true;autoDetectResponseType=true;checkResponseTypeOnTestConnection=true;authSchema={auth};{p}skipServerCertificateValidation=false;useCertificate=No;PaginationType=None;allowResponseHeaders=false;allowHttpsOnly=true;\""
            ))
        }
        Flavour::AmazonS3 => {
            // The access key ID is an identifier, not a secret: the secret key is the
            // connection secret.
            let key_id: u64 = s.rng.random();
            ("QvWebStorageProviderConnectorPackage.exe", "amazons3", format!("Amazon S3 {area}"), format!(
                "CUSTOM CONNECT TO \"provider=QvWebStorageProviderConnectorPackage.exe;sourceType=AmazonS3;region=eu-west-1;bucketName=acme-{area}-exports;accessKey=AKIA{key_id:016X};\""
            ))
        }
        Flavour::SharePoint => (
            "QvWebStorageProviderConnectorPackage.exe",
            "sharepoint",
            format!("SharePoint {area}"),
            format!(
                "CUSTOM CONNECT TO \"provider=QvWebStorageProviderConnectorPackage.exe;sourceType=SharePoint;siteUrl=https://acme.sharepoint.com/sites/{area};\""
            ),
        ),
    }
}

fn connection_doc(s: &Seeder<'_>, id: &str, c: NewConnection) -> Value {
    let base = s.url.trim_end_matches('/');
    let updated = c.created + chrono::Duration::days(3);
    let mut doc = json!({
        "qID": id, "qEngineObjectID": id, "qName": c.name, "qType": c.q_type,
        "qConnectStatement": c.statement, "qLogOn": 0, "qArchitecture": 0,
        "qSeparateCredentials": false, "datasourceID": c.datasource_id,
        "user": c.user, "tenant": s.state.tenant_id, "privileges": c.privileges,
        "created": rfc3339(c.created), "updated": rfc3339(updated.min(s.base_time)),
        "links": {"self": {"href": format!("{base}/api/v1/data-connections/{id}")}},
    });
    if !c.tags.is_empty() {
        doc["tags"] = json!(c.tags);
    }
    if let Some(space) = c.space {
        doc["space"] = json!(space);
    }
    if let Some(secret) = c.secret {
        doc["qConnectionSecret"] = json!(secret);
    }
    if let Some(cred) = c.credentials_id {
        doc["qCredentialsID"] = json!(cred);
    }
    doc
}

/// A name not yet used in the space (or among the user's personal connections).
fn unique_name(taken: &mut HashSet<(String, String)>, scope: &str, base: &str) -> String {
    let mut name = base.to_string();
    let mut n = 2;
    while !taken.insert((scope.to_string(), name.clone())) {
        name = format!("{base} {n}");
        n += 1;
    }
    name
}

pub fn seed(s: &mut Seeder<'_>) {
    if s.scale.data_connections == 0 {
        return;
    }
    let mut taken: HashSet<(String, String)> = HashSet::new();
    let datafiles = seed_datafiles_connections(s, &mut taken);
    // The rest are database, REST and storage connections; demo keeps a handful even though
    // its DataFiles connections already take most of its budget.
    let others = s
        .scale
        .data_connections
        .saturating_sub(datafiles.len())
        .max(s.scale.data_connections / 2);
    for i in 0..others {
        let (flavour, space, user) = if i == 0 {
            // The connection every generated app script names: 'Finance Development:SQL Warehouse'.
            let first_shared = s
                .spaces
                .iter()
                .find(|(_, t)| t == "shared")
                .map(|(id, _)| id.clone());
            (Flavour::SqlServer, first_shared, s.user())
        } else {
            let f = pick_flavour(s);
            let roll: f64 = s.rng.random();
            let space = if roll < 0.15 {
                None
            } else if roll < 0.60 {
                s.space_of("shared")
            } else if roll < 0.75 {
                s.space_of("managed")
            } else {
                s.space_of("data")
            };
            // A quarter of the personal connections are the admin's own, so an admin API key
            // sees some personal connections too.
            let user = if space.is_none() && i % 4 == 1 {
                s.admin_id.clone()
            } else {
                s.user()
            };
            (f, space, user)
        };
        let embed = s.chance(0.75);
        let (q_type, datasource_id, base_name, statement) = flavour_parts(s, flavour, embed);
        let base_name = if i == 0 {
            "SQL Warehouse".to_string()
        } else {
            base_name
        };
        let scope = space.clone().unwrap_or_else(|| format!("personal:{user}"));
        let name = unique_name(&mut taken, &scope, &base_name);
        let is_database = !matches!(
            flavour,
            Flavour::Rest | Flavour::AmazonS3 | Flavour::SharePoint
        );
        // Database connections without an embedded password keep their credentials apart.
        let credentials_id = (is_database && !embed).then(|| s.id(IdStyle::Uuid));
        let secret = Some(s.secret("qConnectionSecret"));
        let tags = match i % 5 {
            0 => vec!["production"],
            1 => vec!["finance", "certified"],
            _ => vec![],
        };
        let created = s.past(600);
        let id = s.id(IdStyle::Uuid);
        let doc = connection_doc(
            s,
            &id,
            NewConnection {
                name,
                q_type,
                datasource_id,
                statement,
                secret,
                credentials_id,
                space,
                user,
                created,
                privileges: FULL_PRIVILEGES,
                tags,
            },
        );
        s.insert("data-connections", doc);
    }
    seed_data_files(s, &datafiles);
}

/// One DataFiles connection per shared and managed space, and the admin's personal one.
/// Returns (connection ID, space ID or None, owner) for the data files.
fn seed_datafiles_connections(
    s: &mut Seeder<'_>,
    taken: &mut HashSet<(String, String)>,
) -> Vec<(String, Option<String>, String)> {
    let spaces: Vec<String> = s
        .spaces
        .iter()
        .filter(|(_, t)| t == "shared" || t == "managed")
        .map(|(id, _)| id.clone())
        .collect();
    let mut out = Vec::new();
    let admin = s.admin_id.clone();
    let targets = spaces
        .into_iter()
        .map(Some)
        .chain(std::iter::once(None::<String>));
    for space in targets {
        let (owner, created) = match &space {
            Some(id) => {
                let sp = s.state.get("spaces", id);
                let owner = sp
                    .and_then(|v| v["ownerId"].as_str())
                    .unwrap_or(&admin)
                    .to_string();
                let created = sp
                    .and_then(|v| v["createdAt"].as_str())
                    .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .unwrap_or(s.base_time);
                (owner, created)
            }
            None => (admin.clone(), s.past(800)),
        };
        let scope = space.clone().unwrap_or_else(|| format!("personal:{owner}"));
        let name = unique_name(taken, &scope, "DataFiles");
        let id = s.id(IdStyle::Uuid);
        let path = space.as_deref().unwrap_or("personal");
        let doc = connection_doc(
            s,
            &id,
            NewConnection {
                name,
                q_type: DATAFILES_TYPE,
                datasource_id: "datafiles",
                statement: format!(
                    "CUSTOM CONNECT TO \"provider={DATAFILES_TYPE};path=/{path}/;\""
                ),
                secret: None,
                credentials_id: None,
                space: space.clone(),
                user: owner.clone(),
                created,
                privileges: DATAFILES_PRIVILEGES,
                tags: vec![],
            },
        );
        s.insert("data-connections", doc);
        out.push((id, space, owner));
    }
    out
}

const FILE_NAMES: &[&str] = &[
    "sales_2025.csv",
    "budget_fy26.xlsx",
    "customers.qvd",
    "inventory_snapshot.parquet",
    "exchange_rates.csv",
    "targets.xlsx",
    "web_sessions.json",
    "regions.txt",
];

fn folder_stats(files: i64, bytes: i64) -> Value {
    json!({
        "totalFileCount": files, "directFileCount": files, "totalFolderCount": 0, "directFolderCount": 0,
        "aggregateFileSize": bytes, "totalInternalFileCount": 0, "directInternalFileCount": 0,
        "totalAppScopedFileCount": 0, "directAppScopedFileCount": 0,
        "aggregateInternalFileSize": 0, "aggregateAppScopedFileSize": 0,
    })
}

fn file_doc(
    s: &mut Seeder<'_>,
    name: &str,
    base_name: &str,
    space: &Option<String>,
    owner: &str,
    folder: Option<(&str, &str)>,
) -> (String, Value) {
    let id = s.id(IdStyle::Uuid);
    let size = s.rng.random_range(2_000i64..80_000_000);
    let created = s.past(400);
    let modified = created + chrono::Duration::hours(s.rng.random_range(0..2000));
    let modified = modified.min(s.base_time);
    let mut doc = json!({
        "id": id, "name": name, "baseName": base_name, "size": size, "ownerId": owner,
        "createdDate": rfc3339(created), "modifiedDate": rfc3339(modified), "contentUpdatedDate": rfc3339(modified),
        "folder": false, "actions": ["read", "update", "delete", "list", "change_owner", "change_space"],
        "folderStats": folder_stats(0, 0),
    });
    if let Some(space) = space {
        doc["spaceId"] = json!(space);
    }
    if let Some((folder_id, folder_path)) = folder {
        doc["folderId"] = json!(folder_id);
        doc["folderPath"] = json!(folder_path);
    }
    (id, doc)
}

/// A few files in each DataFiles connection; every third space also has an `archive` folder.
fn seed_data_files(s: &mut Seeder<'_>, connections: &[(String, Option<String>, String)]) {
    for (k, (_, space, space_owner)) in connections.iter().enumerate() {
        let count = 1 + s.rng.random_range(0..4);
        let offset = s.rng.random_range(0..FILE_NAMES.len());
        for j in 0..count {
            let name = FILE_NAMES[(offset + j) % FILE_NAMES.len()];
            // Files belong to whoever uploaded them, mostly the space's members.
            let owner = if s.chance(0.5) {
                space_owner.clone()
            } else {
                s.user()
            };
            let (id, doc) = file_doc(s, name, name, space, &owner, None);
            s.state.insert("data-files", &id, doc);
        }
        if k % 3 == 0 {
            let folder_id = s.id(IdStyle::Uuid);
            let file_name = "sales_2023.csv";
            let path = format!("archive/{file_name}");
            let (file_id, file) = file_doc(
                s,
                &path,
                file_name,
                space,
                space_owner,
                Some((&folder_id, "archive")),
            );
            let bytes = file["size"].as_i64().unwrap_or(0);
            let created = file["createdDate"].clone();
            let mut folder = json!({
                "id": folder_id, "name": "archive", "baseName": "archive", "size": 0, "ownerId": space_owner,
                "createdDate": created, "modifiedDate": created, "folder": true,
                "actions": ["read", "update", "delete", "list", "change_owner", "change_space"],
                "folderStats": folder_stats(1, bytes),
            });
            if let Some(space) = space {
                folder["spaceId"] = json!(space);
            }
            s.state.insert("data-files", &folder_id, folder);
            s.state.insert("data-files", &file_id, file);
        }
    }
}

fn str_of<'v>(v: &'v Value, f: &str) -> &'v str {
    v.get(f).and_then(Value::as_str).unwrap_or_default()
}

/// Who sees a data connection, and the list filters that are not plain field equality:
/// `noDatafiles`, `personal` (ignored when `spaceId` is given) and `ownedByMe` (which does not
/// apply to DataFiles connections).
pub fn data_connection_visible(v: &Viewer<'_>, c: &Value) -> bool {
    if !crate::visibility::data_connection(v, c) {
        return false;
    }
    let is_datafiles = str_of(c, "qType") == DATAFILES_TYPE;
    let flag = |name: &str| query_value(v.query, name) == Some("true");
    if flag("noDatafiles") && is_datafiles {
        return false;
    }
    if flag("personal")
        && query_value(v.query, "spaceId").is_none()
        && !str_of(c, "space").is_empty()
    {
        return false;
    }
    if flag("ownedByMe") && (is_datafiles || str_of(c, "user") != v.principal.user_id) {
        return false;
    }
    if let Some(app) = query_value(v.query, "owner") {
        return is_datafiles && str_of(c, "owner") == app;
    }
    true
}

/// Who sees a data file, and the filters that need more than field equality: `connectionId`
/// names the space through its DataFiles connection, and `appId=*` means "any app-scoped file".
pub fn data_file_visible(v: &Viewer<'_>, f: &Value) -> bool {
    let space = str_of(f, "spaceId");
    if !crate::visibility::in_space(v, space, str_of(f, "ownerId")) {
        return false;
    }
    if let Some(conn_id) = query_value(v.query, "connectionId") {
        let Some(conn) = v.state.get("data-connections", conn_id) else {
            return false;
        };
        if str_of(conn, "space") != space {
            return false;
        }
        if space.is_empty() && str_of(conn, "user") != str_of(f, "ownerId") {
            return false;
        }
    }
    match query_value(v.query, "appId") {
        Some("*") => !str_of(f, "appId").is_empty(),
        Some(app) => str_of(f, "appId") == app,
        None => true,
    }
}

/// `qLogOn` is written as "0"/"1"/"LOG_ON_SERVICE_USER"/"LOG_ON_CURRENT_USER" on create and
/// read back as the integer 0 or 1.
fn log_on(v: Option<&Value>) -> ApiResult<i64> {
    match v {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) if n.as_i64() == Some(0) || n.as_i64() == Some(1) => {
            Ok(n.as_i64().unwrap_or(0))
        }
        Some(Value::String(s)) => match s.as_str() {
            "0" | "LOG_ON_SERVICE_USER" => Ok(0),
            "1" | "LOG_ON_CURRENT_USER" => Ok(1),
            other => Err(ApiError::bad_request(format!(
                "qLogOn must be 0, 1, LOG_ON_SERVICE_USER or LOG_ON_CURRENT_USER, got '{other}'"
            ))),
        },
        Some(other) => Err(ApiError::bad_request(format!(
            "qLogOn must be 0, 1, LOG_ON_SERVICE_USER or LOG_ON_CURRENT_USER, got {other}"
        ))),
    }
}

fn required_str(obj: &Map<String, Value>, field: &str) -> ApiResult<String> {
    match obj.get(field) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s.clone()),
        Some(Value::String(_)) | None | Some(Value::Null) => Err(ApiError::bad_request(format!(
            "{field} is required: a data connection needs qName, qType and qConnectStatement"
        ))),
        Some(other) => Err(ApiError::bad_request(format!(
            "{field} must be a string, got {}",
            crate::kinds::build::type_name(other)
        ))),
    }
}

/// A data connection created through the API. The client may keep its qID (restore does);
/// names are unique within a space (or among one user's personal connections); credentials
/// sent as qUsername/qPassword are stored apart and never read back.
pub fn build_data_connection(ctx: &mut BuildCtx<'_>, v: Value) -> ApiResult<Value> {
    let Value::Object(mut obj) = v else {
        return Err(ApiError::bad_request("request body must be a JSON object"));
    };
    let name = required_str(&obj, "qName")?;
    let q_type = required_str(&obj, "qType")?;
    required_str(&obj, "qConnectStatement")?;
    let space = match obj.get("space") {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::String(_)) | Some(Value::Null) | None => None,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "space must be a space ID string, got {}",
                crate::kinds::build::type_name(other)
            )))
        }
    };
    if let Some(space_id) = &space {
        let exists = ctx.state.get("spaces", space_id).is_some();
        let member = ctx.principal.is_admin()
            || crate::visibility::space_roles(ctx.state, &ctx.principal.user_id, space_id)
                .is_some();
        if !exists || !member {
            return Err(ApiError::forbidden(format!(
                "space '{space_id}' does not exist or you have no access to it"
            )));
        }
    } else {
        obj.remove("space");
    }
    let user = ctx.principal.user_id.clone();
    let clash = ctx.state.values("data-connections").any(|c| {
        str_of(c, "qID") != ctx.id
            && str_of(c, "qName") == name
            && match &space {
                Some(sp) => str_of(c, "space") == sp,
                None => str_of(c, "space").is_empty() && str_of(c, "user") == user,
            }
    });
    if clash {
        let place = space
            .as_deref()
            .map_or("your personal space".to_string(), |s| {
                format!("space '{s}'")
            });
        return Err(ApiError::conflict(format!(
            "a data connection named '{name}' already exists in {place}"
        )));
    }
    let q_log_on = log_on(obj.get("qLogOn"))?;
    let arch = match obj.get("qArchitecture") {
        None | Some(Value::Null) => 0,
        Some(a) => match a.as_i64() {
            Some(n @ (0 | 1)) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "qArchitecture must be 0 (64-bit) or 1 (32-bit), got {a}"
                )))
            }
        },
    };
    // Credentials given with the connection become a separate credential object.
    ctx.keep_previous(&mut obj, &["qCredentialsID"]);
    let had_password = obj.remove("qPassword").is_some();
    obj.remove("qUsername");
    obj.remove("qCredentialsName");
    obj.remove("qriInRequest");
    obj.remove("authUrlOnly");
    if had_password && !obj.contains_key("qCredentialsID") {
        obj.insert(
            "qCredentialsID".into(),
            json!(ctx.state.new_id(IdStyle::Uuid)),
        );
    }
    let datasource = obj
        .get("datasourceID")
        .and_then(Value::as_str)
        .unwrap_or("custom")
        .to_string();
    let privileges = if q_type == DATAFILES_TYPE {
        DATAFILES_PRIVILEGES
    } else {
        FULL_PRIVILEGES
    };
    let href = crate::kinds::build::self_href(ctx.kind, &ctx.tenant_url, None, &ctx.id);
    obj.insert("qEngineObjectID".into(), json!(ctx.id));
    obj.insert("qLogOn".into(), json!(q_log_on));
    obj.insert("qArchitecture".into(), json!(arch));
    obj.insert("datasourceID".into(), json!(datasource));
    obj.insert("privileges".into(), json!(privileges));
    obj.insert("links".into(), json!({"self": {"href": href}}));
    obj.entry("qSeparateCredentials").or_insert(json!(false));
    Ok(Value::Object(obj))
}

/// The create answer of a data connection: the spec's 201 schema has `qLogOn` as a string
/// ("0"/"1") where GET answers an integer.
pub fn created_view(mut v: Value) -> Value {
    if let Some(n) = v.get("qLogOn").and_then(Value::as_i64) {
        v["qLogOn"] = Value::String(n.to_string());
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_on_accepts_the_create_forms() {
        assert_eq!(log_on(None).unwrap(), 0);
        assert_eq!(log_on(Some(&json!("LOG_ON_CURRENT_USER"))).unwrap(), 1);
        assert_eq!(log_on(Some(&json!("0"))).unwrap(), 0);
        assert_eq!(log_on(Some(&json!(1))).unwrap(), 1);
        assert_eq!(log_on(Some(&json!("2"))).unwrap_err().status, 400);
    }

    #[test]
    fn names_are_made_unique_per_scope() {
        let mut taken = HashSet::new();
        assert_eq!(unique_name(&mut taken, "a", "DataFiles"), "DataFiles");
        assert_eq!(unique_name(&mut taken, "a", "DataFiles"), "DataFiles 2");
        assert_eq!(unique_name(&mut taken, "b", "DataFiles"), "DataFiles");
    }
}
