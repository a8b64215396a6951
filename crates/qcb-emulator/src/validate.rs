//! Request bodies held against the specs. Every POST, PUT and PATCH whose operation declares a
//! JSON request body is checked against that body's schema before its handler runs: required
//! properties, types, enums, `additionalProperties: false` where the spec says so, and JSON
//! Patch arrays against the patch schema. Qlik Cloud refuses such bodies with 400, so a restore
//! that would fail there fails here too.
//!
//! The schemas are converted from the specs at build time (`build.rs`); each is compiled the
//! first time its operation is called, then kept. Extra properties pass unless the spec forbids
//! them, and `readOnly` properties are optional but accepted, as OpenAPI allows a server to do.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::{Draft, JsonType, ValidationError, Validator};
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

mod generated {
    include!(concat!(env!("OUT_DIR"), "/request_schemas.rs"));
}

/// JSON bodies larger than this are refused (413) rather than read into memory; the largest
/// real bodies, automation workspaces, stay far below it.
const MAX_JSON_BODY: usize = 32 << 20;

/// How many schema errors a 400 names; the first is usually the one to fix.
const ERRORS_SHOWN: usize = 3;

/// The schema of one operation's request body for one media type.
pub struct BodySchema {
    pub method: &'static str,
    /// The path as the spec writes it, parameters erased (`/api/v1/spaces/{}`).
    pub shape: &'static str,
    pub media_type: &'static str,
    pub spec: &'static str,
    /// The spec's `requestBody.required`.
    pub required: bool,
    definitions: usize,
    schema: &'static str,
    compiled: OnceLock<Result<Validator, String>>,
}

type ByOperation = HashMap<(String, String), Vec<BodySchema>>;

fn by_operation() -> &'static ByOperation {
    static BODIES: OnceLock<ByOperation> = OnceLock::new();
    BODIES.get_or_init(|| {
        let mut m: ByOperation = HashMap::new();
        for &(method, shape, media_type, spec, required, definitions, schema) in
            generated::REQUEST_BODIES
        {
            m.entry((method.to_string(), shape.to_string()))
                .or_default()
                .push(BodySchema {
                    method,
                    shape,
                    media_type,
                    spec,
                    required,
                    definitions,
                    schema,
                    compiled: OnceLock::new(),
                });
        }
        m
    })
}

/// The `definitions` of one spec, parsed once.
fn definitions(index: usize) -> Option<&'static Value> {
    static PARSED: OnceLock<Vec<OnceLock<Option<Value>>>> = OnceLock::new();
    let slots = PARSED.get_or_init(|| {
        (0..generated::REQUEST_DEFINITIONS.len())
            .map(|_| OnceLock::new())
            .collect()
    });
    slots
        .get(index)?
        .get_or_init(|| {
            generated::REQUEST_DEFINITIONS
                .get(index)
                .and_then(|raw| serde_json::from_str(raw).ok())
        })
        .as_ref()
}

/// Every request body schema the specs declare (for tests and reports).
pub fn all() -> impl Iterator<Item = &'static BodySchema> {
    by_operation().values().flatten()
}

fn essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json(essence: &str) -> bool {
    essence == "application/json"
        || (essence.starts_with("application/") && essence.contains("json"))
}

/// The schema a request to `route` (an axum or spec path template) sent as `content_type`
/// must satisfy: the media type named exactly, else for a JSON body (or none declared) the
/// operation's JSON media type. `None` when the body is not JSON (multipart, octet-stream) or
/// the operation declares no JSON body.
pub fn body_schema(
    method: &str,
    route: &str,
    content_type: Option<&str>,
) -> Option<&'static BodySchema> {
    let shape = crate::tiers::path_shape(route);
    let schemas = by_operation().get(&(method.to_ascii_uppercase(), shape))?;
    let wanted = content_type.map(essence).unwrap_or_default();
    if let Some(exact) = schemas.iter().find(|s| essence(s.media_type) == wanted) {
        return Some(exact);
    }
    if !(wanted.is_empty() || is_json(&wanted)) {
        return None;
    }
    schemas
        .iter()
        .find(|s| s.media_type == "application/json")
        .or_else(|| schemas.first())
}

impl BodySchema {
    fn validator(&self) -> Result<&Validator, &str> {
        self.compiled
            .get_or_init(|| self.compile())
            .as_ref()
            .map_err(String::as_str)
    }

    fn compile(&self) -> Result<Validator, String> {
        let mut schema: Value = serde_json::from_str(self.schema).map_err(|e| e.to_string())?;
        // Draft 7 ignores the siblings of a `$ref`; keep the root's reference one level down.
        if schema.get("$ref").is_some() {
            schema = serde_json::json!({ "allOf": [schema] });
        }
        let defs = definitions(self.definitions)
            .cloned()
            .ok_or("the spec's definitions are missing")?;
        if let Value::Object(root) = &mut schema {
            root.insert("definitions".into(), defs);
        }
        jsonschema::options()
            .with_draft(Draft::Draft7)
            .should_validate_formats(false)
            .build(&schema)
            .map_err(|e| e.to_string())
    }

    /// Whether the schema compiles (a test holds every one of them to it).
    pub fn compiles(&self) -> Result<(), String> {
        self.validator().map(|_| ()).map_err(str::to_string)
    }

    /// Checks a parsed body; the error names the failing property.
    pub fn check(&self, body: &Value) -> ApiResult<()> {
        let validator = match self.validator() {
            Ok(v) => v,
            Err(e) => {
                // A schema we could not compile is our fault, not the client's: let it pass.
                tracing::warn!(
                    "{} {} ({}): request schema does not compile: {e}",
                    self.method,
                    self.shape,
                    self.spec
                );
                return Ok(());
            }
        };
        if validator.is_valid(body) {
            return Ok(());
        }
        let errors: Vec<String> = validator
            .iter_errors(body)
            .take(ERRORS_SHOWN)
            .map(|e| describe(&e))
            .collect();
        Err(ApiError::bad_request(format!(
            "request body does not match the {} schema of {} {}: {}",
            self.spec,
            self.method,
            self.shape,
            errors.join("; ")
        )))
    }

    /// Checks raw bytes: empty (allowed unless the spec requires a body), JSON, the schema.
    pub fn check_bytes(&self, body: &[u8]) -> ApiResult<()> {
        if body.iter().all(u8::is_ascii_whitespace) {
            if self.required {
                return Err(ApiError::bad_request(format!(
                    "request body is empty: {} {} requires a JSON document",
                    self.method, self.shape
                )));
            }
            return Ok(());
        }
        let value: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))?;
        self.check(&value)
    }
}

/// Checks the body of a request to `route` before its handler sees it. Bodies that are not
/// JSON pass untouched and unread (uploads stream on); JSON bodies are read, checked and
/// handed on.
pub async fn check_request(route: &str, req: Request) -> ApiResult<Request> {
    if !matches!(*req.method(), Method::POST | Method::PUT | Method::PATCH) {
        return Ok(req);
    }
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let Some(schema) = body_schema(req.method().as_str(), route, content_type) else {
        return Ok(req);
    };
    let (parts, body) = req.into_parts();
    let bytes: Bytes = axum::body::to_bytes(body, MAX_JSON_BODY)
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "HTTP-413",
                "Payload too large",
            )
            .detail(format!("request body cannot be read: {e}"))
        })?;
    schema.check_bytes(&bytes)?;
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// `/name: 42 is not of type "string"`; alternatives that all fail are reported by reason.
fn describe(error: &ValidationError<'_>) -> String {
    let path = error.instance_path().as_str();
    let path = if path.is_empty() { "/" } else { path };
    let message = match error.kind() {
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            // The `{type: null}` branch of a nullable wrapper fails for every other value.
            let reasons: Vec<String> = context
                .iter()
                .filter(|branch| {
                    !(branch.len() == 1
                        && matches!(
                            branch[0].kind(),
                            ValidationErrorKind::Type {
                                kind: TypeKind::Single(JsonType::Null)
                            }
                        ))
                })
                .map(|branch| {
                    branch
                        .iter()
                        .take(ERRORS_SHOWN)
                        .map(describe)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .collect();
            if let [only] = reasons.as_slice() {
                return only.clone();
            }
            let shown: Vec<&str> = reasons.iter().take(4).map(String::as_str).collect();
            format!("matches none of the alternatives: [{}]", shown.join(" | "))
        }
        _ => truncate(&error.to_string(), 200),
    };
    format!("{path}: {message}")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema(method: &str, route: &str) -> &'static BodySchema {
        body_schema(method, route, Some("application/json"))
            .unwrap_or_else(|| panic!("{method} {route} has a JSON body"))
    }

    #[test]
    fn every_request_schema_compiles() {
        let failures: Vec<String> = all()
            .filter_map(|s| {
                s.compiles()
                    .err()
                    .map(|e| format!("{} {} {}: {e}", s.method, s.shape, s.media_type))
            })
            .collect();
        assert!(all().count() > 200, "{}", all().count());
        assert!(failures.is_empty(), "{failures:#?}");
    }

    #[test]
    fn names_the_failing_property() {
        let spaces = schema("POST", "/api/v1/spaces");
        assert!(spaces
            .check(&json!({"name": "Finance", "type": "shared"}))
            .is_ok());
        let e = spaces.check(&json!({"type": "shared"})).unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(
            e.detail.as_deref().unwrap_or("").contains("\"name\""),
            "{e:?}"
        );
        let e = spaces
            .check(&json!({"name": 7, "type": "shared"}))
            .unwrap_err();
        assert!(
            e.detail.as_deref().unwrap_or("").contains("/name:"),
            "{e:?}"
        );
        let e = spaces
            .check(&json!({"name": "x", "type": "club"}))
            .unwrap_err();
        assert!(
            e.detail.as_deref().unwrap_or("").contains("/type:"),
            "{e:?}"
        );
        // Properties the spec does not name pass: Qlik's services ignore them.
        assert!(spaces
            .check(&json!({"name": "x", "type": "data", "id": "kept", "whatever": 1}))
            .is_ok());
    }

    #[test]
    fn read_only_properties_are_optional_but_accepted() {
        // `ConnectionUpdate` requires `qID` and `qEngineObjectID` without flagging them.
        let put = schema("PUT", "/api/v1/data-connections/{qID}");
        let e = put
            .check(&json!({"qName": "a", "qConnectStatement": "b", "qType": "c"}))
            .unwrap_err();
        assert!(e.detail.as_deref().unwrap_or("").contains("qID"), "{e:?}");
    }

    #[test]
    fn additional_properties_false_is_honoured() {
        let put = schema("PUT", "/api/v1/report-templates/{id}");
        let ok = json!({"name": "r", "temporaryContentId": "t"});
        assert!(put.check(&ok).is_ok(), "{:?}", put.check(&ok));
        let mut extra = ok.clone();
        extra["colour"] = json!("red");
        let e = put.check(&extra).unwrap_err();
        assert!(
            e.detail.as_deref().unwrap_or("").contains("colour"),
            "{e:?}"
        );
    }

    #[test]
    fn json_patch_bodies_follow_the_patch_schema() {
        let patch = schema("PATCH", "/api/v1/spaces/{spaceId}");
        assert!(patch
            .check(&json!([{"op": "replace", "path": "/name", "value": "n"}]))
            .is_ok());
        assert!(patch
            .check(&json!([{"op": "move", "path": "/name", "value": "n"}]))
            .is_err());
        assert!(patch.check(&json!({"name": "merge patch"})).is_err());
        // groups.json enumerates paths without the slash; its example and RFC 6902 use one.
        let groups = schema("PATCH", "/api/v1/groups/{groupId}");
        for path in ["/name", "name"] {
            let body = json!([{"op": "replace", "path": path, "value": "n"}]);
            assert!(
                groups.check(&body).is_ok(),
                "{path}: {:?}",
                groups.check(&body)
            );
        }
        // transports.json lists its ops as one string.
        let email = schema("PATCH", "/api/v1/transports/email-config");
        let body = json!([{"op": "remove", "path": "/username", "value": ""}]);
        assert!(email.check(&body).is_ok(), "{:?}", email.check(&body));
    }

    #[test]
    fn media_types_pick_the_schema() {
        assert!(body_schema(
            "POST",
            "/api/v1/apps/import",
            Some("application/octet-stream")
        )
        .is_none());
        assert!(body_schema(
            "POST",
            "/api/v1/themes",
            Some("multipart/form-data; boundary=x")
        )
        .is_none());
        assert!(body_schema("POST", "/api/v1/spaces", None).is_some());
        assert!(body_schema("GET", "/api/v1/spaces", None).is_none());
        let import = body_schema(
            "POST",
            "/api/v1/glossaries/actions/import",
            Some("application/json+atlan"),
        );
        assert_eq!(import.map(|s| s.media_type), Some("application/json+atlan"));
        let body = schema("POST", "/api/v1/spaces");
        assert!(body.check_bytes(b"").is_err(), "the spec requires a body");
        assert!(body.check_bytes(b"{").is_err());
    }
}
