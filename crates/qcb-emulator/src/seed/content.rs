//! Content beside apps: themes and extensions (zips), report templates (template files),
//! glossaries with categories and terms, collections of app items, ODAG links, brands and
//! recent audit events. Files live in `state.blobs` under the keys `crate::files` serves.
//! `empty` holds none of it: a new tenant has no custom content.

use std::collections::HashMap;
use std::io::Write;

use rand::Rng;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::Seeder;
use crate::clock::rfc3339;
use crate::config::Profile;
use crate::error::{ApiError, ApiResult};
use crate::kinds::BuildCtx;
use crate::state::{IdStyle, State};

pub fn seed(s: &mut Seeder<'_>) {
    if s.profile == Profile::Empty {
        return;
    }
    themes(s);
    extensions(s);
    report_templates(s);
    glossaries(s);
    collections(s);
    odag_links(s);
    brands(s);
    audits(s);
}

// ---------------------------------------------------------------- shared helpers

fn str_of<'v>(v: &'v Value, ptr: &str) -> &'v str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or_default()
}

fn app_name(state: &State, app_id: &str) -> String {
    state
        .get("apps", app_id)
        .map(|a| str_of(a, "/attributes/name").to_string())
        .unwrap_or_default()
}

/// Qlik's rich-text fields (glossary overview, term related information) hold a JSON string.
fn rich_text(text: &str) -> String {
    json!([{"type": "paragraph", "children": [{"text": text}]}]).to_string()
}

/// `n` distinct apps (fewer when the tenant has fewer).
fn distinct_apps(s: &mut Seeder<'_>, n: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(n);
    for _ in 0..n * 3 {
        if out.len() >= n {
            break;
        }
        if let Some(a) = s.app() {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// A small zip, for template formats that are zip containers (xlsx, pptx, docx).
fn small_zip(entries: &[(&str, String)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut zip = zip::ZipWriter::new(&mut buf);
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (path, content) in entries {
            if zip.start_file(*path, opts).is_err() || zip.write_all(content.as_bytes()).is_err() {
                break;
            }
        }
        let _ = zip.finish();
    }
    buf.into_inner()
}

// ---------------------------------------------------------------- themes and extensions

const THEMES: &[(&str, &str)] = &[
    ("corp-light", "Corporate Light"),
    ("corp-dark", "Corporate Dark"),
    ("finance-board", "Finance Board Pack"),
    ("high-contrast", "High Contrast"),
    ("sales-kickoff", "Sales Kick-off"),
    ("print-friendly", "Print Friendly"),
    ("brand-2026", "Brand 2026"),
    ("ops-wallboard", "Operations Wallboard"),
];

fn themes(s: &mut Seeder<'_>) {
    let n = s.scale.other.min(12);
    let tenant_id = s.state.tenant_id.clone();
    for i in 0..n {
        let (qext, title) = THEMES[i % THEMES.len()];
        let round = i / THEMES.len();
        let (qext, title) = if round == 0 {
            (qext.to_string(), title.to_string())
        } else {
            (
                format!("{qext}-{}", round + 1),
                format!("{title} {}", round + 1),
            )
        };
        let id = s.id(IdStyle::Uuid);
        let created = s.past(500);
        let updated = created + chrono::Duration::days(s.rng.random_range(0..60));
        let doc = json!({
            "id": id, "name": title, "description": format!("{title} colours and fonts"),
            "qextFilename": qext, "qextVersion": "1.0.0", "type": "theme",
            "version": format!("1.{}.0", i % 4), "author": "BI Center of Excellence", "icon": "",
            "license": "proprietary", "homepage": "", "keywords": "theme corporate", "supplier": "Corp IT",
            "repository": "", "dependencies": {}, "tags": ["corporate"],
            "file": {"contentType": "application/zip"},
            "tenantId": tenant_id, "userId": s.admin_id, "createdAt": rfc3339(created), "updateAt": rfc3339(updated),
        });
        let zip = crate::files::bundle_zip(&qext, "themes", &title);
        s.state.blobs.insert(format!("themes/{id}"), zip);
        s.insert("themes", doc);
    }
}

const EXTENSIONS: &[(&str, &str, bool)] = &[
    ("corp-kpi-tile", "KPI Tile", true),
    ("corp-sankey", "Sankey Chart", false),
    ("corp-org-chart", "Org Chart", true),
    ("corp-calendar-heatmap", "Calendar Heatmap", false),
    ("corp-variance-waterfall", "Variance Waterfall", true),
    ("corp-map-overlay", "Map Overlay", false),
    ("corp-button-bar", "Button Bar", false),
    ("corp-trellis", "Trellis Container", true),
];

fn extensions(s: &mut Seeder<'_>) {
    let n = (s.scale.other * 3 / 2).min(24);
    let tenant_id = s.state.tenant_id.clone();
    for i in 0..n {
        let (qext, title, supernova) = EXTENSIONS[i % EXTENSIONS.len()];
        let round = i / EXTENSIONS.len();
        let (qext, title) = if round == 0 {
            (qext.to_string(), title.to_string())
        } else {
            (
                format!("{qext}-v{}", round + 1),
                format!("{title} v{}", round + 1),
            )
        };
        let id = s.id(IdStyle::Uuid);
        let created = s.past(600);
        let updated = created + chrono::Duration::days(s.rng.random_range(0..90));
        let zip = crate::files::bundle_zip(&qext, "extensions", &title);
        let checksum = hex::encode(Sha256::digest(&zip));
        let owner = s.user();
        let mut doc = json!({
            "id": id, "name": title, "description": format!("{title} visualization"),
            "qextFilename": qext, "qextVersion": "1.0.0", "type": "visualization",
            "version": format!("2.{}.{}", i % 3, i % 5), "author": "Corp Visualization Team", "icon": "extension",
            "license": "MIT", "homepage": "", "keywords": "visualization", "supplier": "Corp IT", "repository": "",
            "dependencies": {"qlik-sense": ">=5.x"}, "tags": [], "preview": "", "loadpath": "",
            "supernova": supernova, "bundled": false, "checksum": checksum,
            "file": {"contentType": "application/zip"},
            "tenantId": tenant_id, "userId": owner, "createdAt": rfc3339(created), "updateAt": rfc3339(updated),
        });
        if supernova {
            // nebula.js charts are shipped as a bundle of several charts.
            doc["bundle"] = json!({"id": "corp-nebula-bundle", "name": "Corp nebula.js bundle"});
        }
        s.state.blobs.insert(format!("extensions/{id}"), zip);
        s.insert("extensions", doc);
    }
}

// ---------------------------------------------------------------- report templates

const TEMPLATE_TYPES: &[&str] = &[
    "excel",
    "pixelPerfect",
    "excel",
    "powerPoint",
    "word",
    "html",
];

/// The file a template of type `ty` is stored as: the OOXML types are zip containers.
pub fn template_file(ty: &str, name: &str) -> Vec<u8> {
    let xml = |part: &str| {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><{part}><!-- {name} --></{part}>")
    };
    match ty {
        "excel" => small_zip(&[
            ("[Content_Types].xml", xml("Types")),
            ("xl/workbook.xml", xml("workbook")),
            ("xl/worksheets/sheet1.xml", xml("worksheet")),
        ]),
        "powerPoint" => small_zip(&[
            ("[Content_Types].xml", xml("Types")),
            ("ppt/presentation.xml", xml("presentation")),
        ]),
        "word" => small_zip(&[
            ("[Content_Types].xml", xml("Types")),
            ("word/document.xml", xml("document")),
        ]),
        "html" => format!("<!DOCTYPE html><html><head><title>{name}</title></head><body><h1>%%Title%%</h1><table>%%Sales%%</table></body></html>").into_bytes(),
        _ => xml("PixelPerfectReport").into_bytes(),
    }
}

fn report_templates(s: &mut Seeder<'_>) {
    const NAMES: &[&str] = &[
        "Monthly Sales Pack",
        "Board Report",
        "Regional Margin Summary",
        "Inventory Exceptions",
        "Executive KPI Deck",
        "Customer Statement",
        "Budget Variance",
        "Weekly Pipeline",
    ];
    let n = s.scale.other * 3 / 2;
    for i in 0..n {
        let Some(app) = s.app() else { return };
        let ty = TEMPLATE_TYPES[i % TEMPLATE_TYPES.len()];
        let base = NAMES[i % NAMES.len()];
        let name = if i < NAMES.len() {
            base.to_string()
        } else {
            format!("{base} {}", i / NAMES.len() + 1)
        };
        let id = s.id(IdStyle::Uuid);
        let owner = s.user();
        let created = s.past(400);
        let updated = created + chrono::Duration::days(s.rng.random_range(0..30));
        // The GET schema is closed (additionalProperties: false): these fields and no others.
        let doc = json!({
            "id": id, "name": name, "description": format!("{name}, generated from {}", app_name(s.state, &app)),
            "type": ty, "ownerId": owner, "createdBy": owner, "updatedBy": owner,
            "createdAt": rfc3339(created), "updatedAt": rfc3339(updated),
            "sourceAppId": app, "sourceAppName": app_name(s.state, &app), "metadataVersion": 2,
        });
        s.state
            .blobs
            .insert(format!("report-templates/{id}"), template_file(ty, &name));
        s.insert("report-templates", doc);
    }
}

// ---------------------------------------------------------------- glossaries

const GLOSSARIES: &[(&str, &str)] = &[
    (
        "Business Glossary",
        "Company-wide definitions of business terms",
    ),
    (
        "Finance Glossary",
        "Definitions used in financial reporting",
    ),
    ("Sales Glossary", "Pipeline and bookings vocabulary"),
    ("Supply Chain Glossary", "Logistics and inventory measures"),
    ("People Glossary", "HR and workforce analytics terms"),
];

const CATEGORIES: &[&str] = &["Finance", "Sales", "Operations", "People", "Customer"];

/// (name, abbreviation, definition)
const TERMS: &[(&str, &str, &str)] = &[
    (
        "Revenue",
        "REV",
        "Income from sales of goods and services before any costs.",
    ),
    (
        "Gross Margin",
        "GM",
        "Revenue minus cost of goods sold, as a share of revenue.",
    ),
    (
        "Earnings Before Interest and Tax",
        "EBIT",
        "Operating profit before interest and income tax.",
    ),
    (
        "Days Sales Outstanding",
        "DSO",
        "Average number of days to collect payment after a sale.",
    ),
    (
        "Customer Churn Rate",
        "",
        "Share of customers lost during a period.",
    ),
    (
        "Net Promoter Score",
        "NPS",
        "Promoters minus detractors, from the customer survey.",
    ),
    (
        "Customer Lifetime Value",
        "CLV",
        "Expected margin from a customer over the relationship.",
    ),
    (
        "Annual Recurring Revenue",
        "ARR",
        "Yearly value of active subscriptions.",
    ),
    ("Backlog", "", "Orders received but not yet delivered."),
    (
        "On-Time Delivery",
        "OTD",
        "Share of orders delivered on or before the promised date.",
    ),
    (
        "Inventory Turnover",
        "",
        "Cost of goods sold divided by average inventory.",
    ),
    ("Lead Time", "", "Days from order to delivery."),
    (
        "Headcount",
        "HC",
        "Number of employees on the payroll at period end.",
    ),
    (
        "Full-Time Equivalent",
        "FTE",
        "Hours worked expressed as full-time positions.",
    ),
    (
        "Attrition Rate",
        "",
        "Employees leaving during a period, over average headcount.",
    ),
    (
        "Operating Expense",
        "OPEX",
        "Costs of running the business day to day.",
    ),
    (
        "Capital Expenditure",
        "CAPEX",
        "Spend on long-lived assets.",
    ),
    (
        "Cash Conversion Cycle",
        "CCC",
        "Days between paying suppliers and collecting from customers.",
    ),
    (
        "Win Rate",
        "",
        "Closed-won opportunities over all closed opportunities.",
    ),
    (
        "Average Order Value",
        "AOV",
        "Revenue divided by the number of orders.",
    ),
    (
        "Forecast Accuracy",
        "",
        "One minus the absolute forecast error, relative to actuals.",
    ),
    (
        "Service Level Agreement",
        "SLA",
        "Agreed response and resolution times for tickets.",
    ),
    (
        "First Contact Resolution",
        "FCR",
        "Tickets solved without a follow-up contact.",
    ),
    (
        "Budget Variance",
        "",
        "Actuals minus budget for the period.",
    ),
];

const FIELDS: &[&str] = &["Amount", "OrderID", "CustomerID"];

fn glossaries(s: &mut Seeder<'_>) {
    let n = (s.scale.other / 6).max(2).min(GLOSSARIES.len());
    let terms_per = if s.profile == Profile::Large { 24 } else { 10 };
    for (g, (name, description)) in GLOSSARIES.iter().copied().enumerate().take(n) {
        let id = s.id(IdStyle::Uuid);
        let owner = s.user();
        let created = s.past(500);
        // Every other glossary lives in a shared space; the rest are tenant-wide.
        let space = if g % 2 == 1 {
            s.space_of("shared").unwrap_or_default()
        } else {
            String::new()
        };
        let doc = json!({
            "id": id, "name": name, "description": description, "overview": rich_text(description),
            "tags": ["governed"], "ownerId": owner, "spaceId": space,
            "createdBy": owner, "createdAt": rfc3339(created), "updatedBy": owner, "updatedAt": rfc3339(created),
            "termTemplate": {"relatedInformation": rich_text("Source system, owner team and calculation notes.")},
        });
        s.insert("glossaries", doc);
        let categories = glossary_categories(s, &id, &owner, created);
        glossary_terms(s, &id, &categories, terms_per, created);
    }
}

fn glossary_categories(
    s: &mut Seeder<'_>,
    glossary_id: &str,
    owner: &str,
    created: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    let mut ids = Vec::new();
    for (i, name) in CATEGORIES.iter().enumerate() {
        let id = s.id(IdStyle::Uuid);
        let steward = s.user();
        let mut doc = json!({
            "id": id, "glossaryId": glossary_id, "name": name, "description": format!("{name} terms"),
            "stewards": [steward], "createdBy": owner, "createdAt": rfc3339(created),
            "updatedBy": owner, "updatedAt": rfc3339(created),
        });
        // One nested category, as people group e.g. "Receivables" under "Finance".
        if i == CATEGORIES.len() - 1 {
            if let Some(parent) = ids.first() {
                doc["parentId"] = json!(parent);
            }
        }
        s.insert("glossary-categories", doc);
        ids.push(id);
    }
    ids
}

fn glossary_terms(
    s: &mut Seeder<'_>,
    glossary_id: &str,
    categories: &[String],
    n: usize,
    after: chrono::DateTime<chrono::Utc>,
) {
    let mut previous: Option<String> = None;
    for i in 0..n.min(TERMS.len()) {
        let (name, abbr, definition) = TERMS[i];
        let id = s.id(IdStyle::Uuid);
        let author = s.user();
        let steward = s.user();
        let created = after + chrono::Duration::days(s.rng.random_range(0..30));
        let updated = created + chrono::Duration::days(s.rng.random_range(0..60));
        let status = ["verified", "verified", "draft", "deprecated"][i % 4];
        let mut cats = vec![categories[i % categories.len()].clone()];
        if i % 3 == 0 && categories.len() > 1 {
            cats.push(categories[(i + 1) % categories.len()].clone());
        }
        let mut links = Vec::new();
        if let Some(app) = s.app() {
            let space = s
                .state
                .get("apps", &app)
                .map(|a| str_of(a, "/attributes/spaceId").to_string())
                .unwrap_or_default();
            let field = FIELDS[i % FIELDS.len()];
            let mut link = json!({
                "id": s.id(IdStyle::Uuid), "resourceType": "app", "resourceId": app, "type": "definition",
                "subResourceType": "field", "subResourceId": field, "subResourceName": field, "subResourceInvalid": false,
                "createdAt": rfc3339(created), "createdBy": author,
            });
            if !space.is_empty() {
                link["resourceSpaceId"] = json!(space);
            }
            links.push(link);
        }
        let relates: Vec<Value> = previous
            .iter()
            .map(|t| json!({"termId": t, "type": "seeAlso"}))
            .collect();
        let doc = json!({
            "id": id, "glossaryId": glossary_id, "name": name, "abbreviation": abbr, "description": definition,
            "relatedInformation": rich_text(&format!("Calculated in the data warehouse; owned by the {} team.", CATEGORIES[i % CATEGORIES.len()])),
            "tags": [CATEGORIES[i % CATEGORIES.len()].to_lowercase()], "stewards": [steward], "categories": cats,
            "linksTo": links, "relatesTo": relates,
            "status": {"type": status, "updatedBy": steward, "updatedAt": rfc3339(updated)},
            "revision": 1 + (i % 3),
            "createdBy": author, "createdAt": rfc3339(created), "updatedBy": steward, "updatedAt": rfc3339(updated),
        });
        s.insert("glossary-terms", doc);
        previous = Some(id);
    }
}

/// A term created through the API: the status is an object (type, who, when), not a string.
pub fn build_term(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    if v.get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request("name is required"));
    }
    let ty = match v.get("status") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Object(o)) => o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("draft")
            .to_string(),
        _ => "draft".to_string(),
    };
    if !matches!(ty.as_str(), "draft" | "verified" | "deprecated") {
        return Err(ApiError::bad_request(format!(
            "status must be draft, verified or deprecated, got '{ty}'"
        )));
    }
    v["status"] =
        json!({"type": ty, "updatedBy": ctx.principal.user_id, "updatedAt": rfc3339(ctx.now)});
    Ok(v)
}

// ---------------------------------------------------------------- collections

fn collections(s: &mut Seeder<'_>) {
    const PUBLIC: &[&str] = &[
        "Executive Dashboards",
        "Month-End Close",
        "Sales Enablement",
        "Operations Daily",
        "Onboarding",
        "Customer 360",
    ];
    const PRIVATE: &[&str] = &["My drafts", "To review", "Quarterly prep", "Ideas"];
    let other = s.scale.other;
    let large = s.profile == Profile::Large;
    // Which item shows which app: one pass over the items instead of a lookup per app.
    let item_of: HashMap<String, String> = s
        .state
        .collection("items")
        .map(|c| {
            c.entries
                .iter()
                .filter(|(_, e)| str_of(&e.value, "/resourceType") == "app")
                .map(|(id, e)| (str_of(&e.value, "/resourceId").to_string(), id.clone()))
                .collect()
        })
        .unwrap_or_default();
    let admin = s.admin_id.clone();
    let mut plan: Vec<(String, &str, String)> = Vec::new();
    for i in 0..other.clamp(3, 20) {
        let base = PUBLIC[i % PUBLIC.len()];
        let name = if i < PUBLIC.len() {
            base.to_string()
        } else {
            format!("{base} {}", i / PUBLIC.len() + 1)
        };
        plan.push((name, "public", admin.clone()));
    }
    for i in 0..(other / 4).max(1) {
        let name = if i == 0 {
            "Certified Apps".to_string()
        } else {
            format!("Certified Apps {}", i + 1)
        };
        plan.push((name, "publicgoverned", admin.clone()));
    }
    // Private and favorite collections belong to other users: only they (or an admin.apps
    // bot) can list them, which is what a backup run with an API key misses.
    let private = if large { other / 2 } else { 2 };
    for i in 0..private {
        let creator = s.user();
        plan.push((PRIVATE[i % PRIVATE.len()].to_string(), "private", creator));
    }
    plan.push(("Admin shortlist".to_string(), "private", admin.clone()));
    let favorites = if large { other } else { 3 };
    let mut fav_users: Vec<String> = Vec::new();
    for _ in 0..favorites {
        let u = s.user();
        if u != admin && !fav_users.contains(&u) {
            fav_users.push(u);
        }
    }
    for u in fav_users {
        plan.push(("Favorites".to_string(), "favorite", u));
    }
    let tenant_id = s.state.tenant_id.clone();
    let base = s.url.trim_end_matches('/').to_string();
    let per = if large { 25 } else { 6 };
    for (name, ty, creator) in plan {
        let id = s.id(IdStyle::Hex24);
        let created = s.past(300);
        let wanted = 1 + s.rng.random_range(0..per);
        let items: Vec<String> = distinct_apps(s, wanted)
            .iter()
            .filter_map(|a| item_of.get(a).cloned())
            .collect();
        let doc = json!({
            "id": id, "name": name, "type": ty, "description": format!("{name} ({ty})"),
            "tenantId": tenant_id, "creatorId": creator, "updaterId": creator,
            "createdAt": rfc3339(created), "updatedAt": rfc3339(created), "itemCount": items.len(), "full": false,
            "links": {"self": {"href": format!("{base}/api/v1/collections/{id}")}, "items": {"href": format!("{base}/api/v1/collections/{id}/items")}},
        });
        s.insert("collections", doc);
        for item_id in items {
            add_to_collection(s.state, &item_id, &id, &name);
        }
    }
}

/// Records membership on the item: `collectionIds` and `meta.collections` move together.
pub fn add_to_collection(state: &mut State, item_id: &str, collection_id: &str, name: &str) {
    let Some(item) = state.get_mut("items", item_id) else {
        return;
    };
    if let Some(ids) = item.get_mut("collectionIds").and_then(Value::as_array_mut) {
        if ids.iter().any(|c| c == collection_id) {
            return;
        }
        ids.push(json!(collection_id));
    } else {
        item["collectionIds"] = json!([collection_id]);
    }
    match item
        .pointer_mut("/meta/collections")
        .and_then(Value::as_array_mut)
    {
        Some(cs) => cs.push(json!({"id": collection_id, "name": name})),
        None => item["meta"]["collections"] = json!([{"id": collection_id, "name": name}]),
    }
}

/// Undoes `add_to_collection`; false when the item was not in the collection.
pub fn remove_from_collection(state: &mut State, item_id: &str, collection_id: &str) -> bool {
    let Some(item) = state.get_mut("items", item_id) else {
        return false;
    };
    let mut found = false;
    if let Some(ids) = item.get_mut("collectionIds").and_then(Value::as_array_mut) {
        let before = ids.len();
        ids.retain(|c| c != collection_id);
        found = ids.len() != before;
    }
    if let Some(cs) = item
        .pointer_mut("/meta/collections")
        .and_then(Value::as_array_mut)
    {
        cs.retain(|c| c["id"] != collection_id);
    }
    found
}

/// A collection created through the API: a known type, and the link to its items.
pub fn build_collection(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    if v.get("name")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(ApiError::bad_request("name is required"));
    }
    let ty = v
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if !matches!(ty.as_str(), "private" | "public" | "publicgoverned") {
        return Err(ApiError::bad_request(format!(
            "type must be private, public or publicgoverned, got '{ty}'"
        )));
    }
    let name = v["name"].as_str().unwrap_or_default().to_string();
    // Public collections are the tenant's tags: their names are unique (the spec's 409).
    if ty == "public"
        && ctx.state.values("collections").any(|c| {
            c["type"] == "public" && c["name"] == name.as_str() && c["id"] != ctx.id.as_str()
        })
    {
        return Err(ApiError::conflict(format!(
            "a public collection named '{name}' already exists"
        )));
    }
    let base = ctx.tenant_url.trim_end_matches('/');
    v["links"]["items"] = json!({"href": format!("{base}/api/v1/collections/{}/items", ctx.id)});
    v["itemCount"] = json!(0);
    if let Value::Object(obj) = &mut v {
        ctx.keep_previous(obj, &["itemCount"]);
    }
    Ok(v)
}

// ---------------------------------------------------------------- ODAG links

/// `owner` / `modifiedByUser` as the ODAG service condenses a user.
fn condensed_user(state: &State, user_id: &str) -> Value {
    let user = state.get("users", user_id);
    json!({
        "id": user_id,
        "name": user.map(|u| str_of(u, "/name")).unwrap_or_default(),
        "subject": user.map(|u| str_of(u, "/subject")).unwrap_or_default(),
        "tenantid": state.tenant_id,
    })
}

/// Link properties for every user (`User_*`), with the row-estimate range the schema requires.
fn odag_properties(label: &str, high: i64) -> Value {
    json!({
        "rowEstRange": [{"context": "User_*", "highBound": high}],
        "genAppLimit": [{"context": "User_*", "limit": 5}],
        "appRetentionTime": [{"context": "User_*", "retentionTime": "unlimited"}],
        "menuLabel": [{"context": "User_*", "label": label}],
        "limitPolicy": [{"context": "User_*", "limitPolicy": "Restrict"}],
        "genAppName": [{"context": "User_*", "formatString": "{0} - {1}", "params": ["templateAppName", "userId"]}],
        "appOpenMethod": [{"context": "User_*", "openMethod": "Tab"}],
    })
}

fn odag_links(s: &mut Seeder<'_>) {
    const NAMES: &[(&str, &str)] = &[
        ("Order details", "OrderID"),
        ("Customer drill-down", "CustomerID"),
        ("Transactions by region", "Region"),
        ("Invoice lines", "InvoiceID"),
    ];
    let n = (s.scale.other / 3).max(2);
    for i in 0..n {
        let apps = distinct_apps(s, 2);
        let [selection, template] = apps.as_slice() else {
            return;
        };
        let (base, field) = NAMES[i % NAMES.len()];
        let name = if i < NAMES.len() {
            base.to_string()
        } else {
            format!("{base} {}", i / NAMES.len() + 1)
        };
        let id = s.id(IdStyle::Hex24);
        let owner = s.user();
        let created = s.past(400);
        let modified = created + chrono::Duration::days(s.rng.random_range(0..40));
        let doc = json!({
            "id": id, "name": name, "status": if i % 5 == 4 { "disabled" } else { "active" },
            "owner": condensed_user(s.state, &owner), "modifiedByUser": condensed_user(s.state, &owner),
            "createdDate": rfc3339(created), "modifiedDate": rfc3339(modified),
            "templateApp": {"id": template, "name": app_name(s.state, template)},
            // Not in the GET schema, but the create and update payloads require it and the list
            // filters on it (`selectionAppID`), so the link keeps it.
            "selectionApp": selection,
            "rowEstExpr": "Count(DISTINCT OrderID)",
            "bindings": [{
                "templateAppVarName": format!("odso_{field}"), "selectAppParamType": "Field", "selectAppParamName": field,
                "selectionStates": "SO", "numericOnly": false, "formatting": {"quote": "'", "delimiter": ","},
            }],
            "properties": odag_properties(&name, 100_000),
            "privileges": ["read", "update", "delete"], "includeScript": false, "dynamicView": false,
            "genAppAccessible": true, "templateAppChartObjects": [],
        });
        s.insert("odag-links", doc);
    }
}

/// An ODAG link created through the API: the payload names apps by ID; the link answers them
/// condensed, with the owner and the row-estimate range the GET schema requires.
pub fn build_odag_link(ctx: &mut BuildCtx<'_>, mut v: Value) -> ApiResult<Value> {
    let name = v
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if name.is_empty() || name.len() > 255 {
        return Err(ApiError::bad_request(
            "name is required (1 to 255 characters)",
        ));
    }
    let selection = v
        .get("selectionApp")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    if ctx.state.get("apps", &selection).is_none() {
        return Err(ApiError::not_found("selection app", &selection));
    }
    let template = match v.get("templateApp") {
        Some(Value::String(id)) => id.clone(),
        Some(Value::Object(o)) => o
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        _ => String::new(),
    };
    if ctx.state.get("apps", &template).is_none() {
        return Err(ApiError::not_found("template app", &template));
    }
    v["templateApp"] = json!({"id": template, "name": app_name(ctx.state, &template)});
    let user = condensed_user(ctx.state, &ctx.principal.user_id);
    v["owner"] = user.clone();
    v["modifiedByUser"] = user;
    if let Value::Object(obj) = &mut v {
        ctx.keep_previous(obj, &["owner"]);
    }
    if v.pointer("/properties/rowEstRange").is_none() {
        let mut props = odag_properties(&name, 100_000);
        if let (Value::Object(given), Value::Object(defaults)) = (
            v.get("properties").cloned().unwrap_or(json!({})),
            &mut props,
        ) {
            defaults.extend(given);
        }
        v["properties"] = props;
    }
    if let Some(Value::Object(setting)) = v.get("statusSetting").cloned() {
        if setting.get("status").and_then(Value::as_str) == Some("disabled") {
            v["status"] = json!("disabled");
        }
    }
    if let Value::Object(m) = &mut v {
        m.remove("statusSetting");
    }
    v["privileges"] = json!(["read", "update", "delete"]);
    Ok(v)
}

// ---------------------------------------------------------------- brands

/// A 1×1 transparent PNG: the smallest logo a browser renders.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];

/// An ICO container holding the PNG above (PNG-compressed icons are valid since Vista).
fn favicon() -> Vec<u8> {
    let mut out = vec![0, 0, 1, 0, 1, 0, 1, 1, 0, 0, 1, 0, 32, 0];
    out.extend_from_slice(&(PNG_1X1.len() as u32).to_le_bytes());
    out.extend_from_slice(&22u32.to_le_bytes());
    out.extend_from_slice(PNG_1X1);
    out
}

fn brands(s: &mut Seeder<'_>) {
    const BRANDS: &[(&str, &str, &str)] = &[
        ("Corporate", "Company logo and colours", "#0b3d91"),
        (
            "Customer Portal",
            "Branding for the embedded customer portal",
            "#00875a",
        ),
        ("Holiday Season", "Seasonal variant", "#b3261e"),
    ];
    let n = if s.profile == Profile::Large { 3 } else { 2 };
    for (i, (name, description, colour)) in BRANDS.iter().take(n).enumerate() {
        let id = s.id(IdStyle::Hex24);
        let created = s.past(400);
        let css = format!(
            ":root {{ --brand-primary: {colour}; }}\n.qv-panel-sheet {{ background: #fff; }}\n"
        );
        let files: [(&str, &str, Vec<u8>); 3] = [
            ("logo", "image/png", PNG_1X1.to_vec()),
            ("favIcon", "image/x-icon", favicon()),
            ("styles", "text/css", css.into_bytes()),
        ];
        let mut file_docs = Vec::new();
        for (file, content_type, bytes) in files {
            let etag = hex::encode(&Sha256::digest(&bytes)[..8]);
            file_docs.push(json!({"id": file, "path": format!("/api/v1/brands/{id}/files/{file}"), "contentType": content_type, "eTag": etag}));
            s.state.blobs.insert(format!("brands/{id}/{file}"), bytes);
        }
        let admin = s.admin_id.clone();
        // One brand at most is active in a tenant.
        let doc = json!({
            "id": id, "name": name, "description": description, "active": i == 0, "files": file_docs,
            "createdAt": rfc3339(created), "updatedAt": rfc3339(created), "createdBy": admin, "updatedBy": admin,
        });
        s.insert("brands", doc);
    }
}

// ---------------------------------------------------------------- audits

fn audits(s: &mut Seeder<'_>) {
    // (event type, source)
    const EVENTS: &[(&str, &str)] = &[
        ("com.qlik.v1.app.reload.finished", "com.qlik/engine"),
        ("com.qlik.v1.app.reload.finished", "com.qlik/engine"),
        ("com.qlik.user-session.begin", "com.qlik/edge-auth"),
        ("com.qlik.user-session.begin", "com.qlik/edge-auth"),
        ("com.qlik.v1.app.created", "com.qlik/engine"),
        ("com.qlik.v1.app.exported", "com.qlik/engine"),
        ("com.qlik.v1.space.created", "com.qlik/spaces"),
        ("com.qlik.v1.user.created", "com.qlik/users"),
        ("com.qlik.v1.api-key.created", "com.qlik/api-keys"),
    ];
    let n = if s.profile == Profile::Large {
        400
    } else {
        s.scale.other * 10
    };
    let tenant_id = s.state.tenant_id.clone();
    let base = s.url.trim_end_matches('/').to_string();
    // The list answers newest first (the spec's default sort is -eventTime): insert in that order.
    let mut times: Vec<chrono::DateTime<chrono::Utc>> = (0..n).map(|_| s.past(30)).collect();
    times.sort_unstable_by(|a, b| b.cmp(a));
    for (i, time) in times.into_iter().enumerate() {
        let (event_type, source) = EVENTS[(i * 7 + 3) % EVENTS.len()];
        let id = s.id(IdStyle::Uuid);
        let event_id = s.id(IdStyle::Uuid);
        let user = s.user();
        let mut extensions = json!({"actor": {"sub": user, "subType": "user"}});
        let data = match event_type {
            "com.qlik.v1.app.reload.finished"
            | "com.qlik.v1.app.created"
            | "com.qlik.v1.app.exported" => {
                let app = s.app().unwrap_or_default();
                let (owner, space) = s
                    .state
                    .get("apps", &app)
                    .map(|a| {
                        (
                            str_of(a, "/attributes/ownerId").to_string(),
                            str_of(a, "/attributes/spaceId").to_string(),
                        )
                    })
                    .unwrap_or_default();
                extensions["topLevelResourceId"] = json!(app);
                extensions["ownerId"] = json!(owner);
                if !space.is_empty() {
                    extensions["spaceId"] = json!(space);
                }
                if event_type == "com.qlik.v1.app.reload.finished" {
                    json!({"id": app, "name": app_name(s.state, &app), "status": if i % 9 == 0 { "error" } else { "ok" }, "duration": format!("{}s", 5 + i % 300)})
                } else {
                    json!({"id": app, "name": app_name(s.state, &app)})
                }
            }
            "com.qlik.v1.space.created" => {
                let space = s.space_of("shared").unwrap_or_default();
                extensions["topLevelResourceId"] = json!(space);
                extensions["spaceId"] = json!(space);
                json!({"id": space})
            }
            "com.qlik.user-session.begin" => {
                json!({"sessionId": s.id(IdStyle::Hex24), "userAgent": "Mozilla/5.0"})
            }
            _ => json!({"id": s.id(IdStyle::Hex24)}),
        };
        let doc = json!({
            "id": id, "eventId": event_id, "eventType": event_type, "eventTypeVersion": "1.0.0", "eventTime": rfc3339(time),
            "source": source, "tenantId": tenant_id, "userId": user, "contentType": "application/json",
            "data": data, "extensions": extensions,
            "links": {"self": {"href": format!("{base}/api/v1/audits/{id}")}},
        });
        s.insert("audits", doc);
    }
}
