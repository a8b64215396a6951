//! OpenAPI 3.0 contract checks for the emulator's integration tests.
//!
//! Qlik publishes one OpenAPI 3.0 document per service (vendored under
//! `specs/qlik/rest`). OpenAPI 3.0 schemas are *almost* JSON Schema; this module
//! converts each document into a JSON Schema (draft 7) twin, registers the twins
//! in one `jsonschema` registry and compiles validators lazily, so a test can ask
//! "is this body what Qlik documents for `GET /api/v1/spaces/{spaceId}` → 200?".
//!
//! Design notes:
//! * Each spec is converted twice, once per [`Direction`], because `readOnly`
//!   (requests) and `writeOnly` (responses) change which properties are required.
//! * Converted documents keep the original JSON layout, so `$ref`s such as
//!   `#/components/schemas/Space` resolve through the registry unchanged. Nothing
//!   is inlined, which keeps recursive schemas finite. The one layout change, the
//!   `anyOf` wrapper that makes a composite schema nullable, is recorded so that
//!   pointers *into* such a schema can be translated (see [`Converted::moves`]).
//! * Draft 7 because OpenAPI 3.0 follows it closely: `$ref` siblings are ignored
//!   (as OpenAPI 3.0 says), `1.0` counts as an integer, and `format` is only an
//!   annotation here (we switch format assertion off: Qlik uses "uid", "int64",
//!   "RFC3339", ... which must never fail a body).
#![allow(dead_code)]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use jsonschema::{Draft, Registry, Validator};
use serde_json::{Map, Value};

/// Base URI under which the converted documents are registered. `.invalid`
/// guarantees that nothing is ever fetched even if a retriever were enabled.
const BASE_URI: &str = "https://qcb-specs.invalid/";

const HTTP_METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// Keywords that only mean something to OpenAPI tooling. They are removed so the
/// draft 7 meta-schema check stays meaningful and so `discriminator`/`example`
/// payloads are never mistaken for schema structure.
const OPENAPI_ONLY_KEYWORDS: [&str; 9] = [
    "nullable",
    "discriminator",
    "example",
    "examples",
    "xml",
    "externalDocs",
    "deprecated",
    "readOnly",
    "writeOnly",
];

/// Which side of the exchange a body is validated for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    Request,
    Response,
}

impl Direction {
    fn segment(self) -> &'static str {
        match self {
            Direction::Request => "request",
            Direction::Response => "response",
        }
    }

    /// The flag that makes a property optional in this direction.
    fn optional_flag(self) -> &'static str {
        match self {
            Direction::Request => "readOnly",
            Direction::Response => "writeOnly",
        }
    }
}

/// Outcome of validating one body. Callers count the non-`Valid`/`Invalid`
/// outcomes separately: they mean "the spec gave us nothing to check against".
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Validation {
    Valid,
    /// Human-readable errors, each starting with the JSON pointer of the
    /// offending value in the body.
    Invalid(Vec<String>),
    /// The status/content is declared but carries no JSON schema (204, binary
    /// downloads, text/csv, a request body the operation does not declare, ...).
    NoSchema,
    /// The operation declares neither this status, nor its `NXX` range, nor `default`.
    UndeclaredStatus,
    /// The status is declared but not with this content type; lists the declared ones.
    UndeclaredContentType(Vec<String>),
    /// The spec's schema could not be compiled; a bug in the spec or in the conversion.
    SchemaError(String),
}

impl Validation {
    pub fn is_valid(&self) -> bool {
        matches!(self, Validation::Valid)
    }
}

impl fmt::Display for Validation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Validation::Valid => f.write_str("valid"),
            Validation::Invalid(errors) => write!(f, "invalid: {}", errors.join("; ")),
            Validation::NoSchema => f.write_str("no JSON schema declared"),
            Validation::UndeclaredStatus => f.write_str("status not declared"),
            Validation::UndeclaredContentType(declared) => {
                write!(
                    f,
                    "content type not declared (declared: {})",
                    declared.join(", ")
                )
            }
            Validation::SchemaError(e) => write!(f, "schema error: {e}"),
        }
    }
}

/// A handle on one operation of one spec; cheap to clone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationRef {
    pub spec_file: String,
    /// Upper case, e.g. "GET".
    pub method: String,
    /// The path template exactly as the spec writes it.
    pub path: String,
    spec: usize,
}

impl OperationRef {
    /// JSON pointer of the operation object in its spec.
    fn pointer(&self) -> String {
        format!(
            "/paths/{}/{}",
            escape_token(&self.path),
            self.method.to_ascii_lowercase()
        )
    }
}

impl fmt::Display for OperationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} ({})", self.method, self.path, self.spec_file)
    }
}

/// Catalogue data of one operation, mirroring a line of `endpoints.tsv`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperationInfo {
    pub spec_file: String,
    pub method: String,
    pub path: String,
    /// `x-qlik-tier.tier`, e.g. "1"; empty when the spec omits it.
    pub tier: String,
    /// `x-qlik-tier.limit`, requests per minute; 0 when the spec omits it.
    pub limit_per_min: u32,
    /// `deprecated` or `x-qlik-deprecated`.
    pub deprecated: bool,
}

/// One place where a spec attaches a JSON schema to a request or response body.
#[derive(Clone, Debug)]
pub struct SchemaSite {
    pub op: OperationRef,
    pub direction: Direction,
    /// `None` for request bodies.
    pub status: Option<String>,
    pub content_type: String,
    /// JSON pointer of the schema in the spec, after following response and
    /// request-body `$ref`s (e.g. `/components/responses/Error/content/...`).
    pub pointer: String,
}

/// An example the spec gives for a body (`example` or an entry of `examples`).
#[derive(Clone, Debug)]
pub struct ExampleSite {
    pub site: SchemaSite,
    /// "example" or "examples/<name>".
    pub name: String,
    pub value: Value,
}

/// An `example` attached to a schema node (a component schema or a property).
#[derive(Clone, Debug)]
pub struct SchemaExample {
    pub spec_file: String,
    /// JSON pointer of the schema node in the original spec.
    pub pointer: String,
    pub value: Value,
}

struct Spec {
    file: String,
    /// The document as published; used for lookups that need OpenAPI semantics.
    doc: Value,
    /// Layout changes made by the conversion (identical for both directions).
    moves: Vec<(String, String)>,
}

/// Every vendored Qlik spec, converted and ready to validate bodies.
pub struct SpecIndex {
    dir: PathBuf,
    specs: Vec<Spec>,
    /// (METHOD, template with parameter names erased) → (spec, path as written).
    ops: HashMap<(String, String), (usize, String)>,
    registry: Registry<'static>,
    /// Compiled validators by schema URI; errors are cached too so a broken
    /// schema is reported once per index, not recompiled per body.
    cache: Mutex<HashMap<String, Result<Arc<Validator>, String>>>,
}

impl fmt::Debug for SpecIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpecIndex")
            .field("dir", &self.dir)
            .field("specs", &self.specs.len())
            .field("operations", &self.ops.len())
            .finish_non_exhaustive()
    }
}

impl SpecIndex {
    /// Loads every `*.json` spec in `dir`, including dot-files such as
    /// `.well-known.json`.
    pub fn load(dir: &Path) -> Result<SpecIndex, String> {
        let entries = std::fs::read_dir(dir)
            .map_err(|e| format!("cannot list spec directory {}: {e}", dir.display()))?;
        let mut files = Vec::new();
        for entry in entries {
            let entry =
                entry.map_err(|e| format!("cannot list spec directory {}: {e}", dir.display()))?;
            let path = entry.path();
            if path.extension().is_some_and(|ext| ext == "json") && path.is_file() {
                files.push(path);
            }
        }
        // Deterministic order makes reports diffable between runs.
        files.sort();
        if files.is_empty() {
            return Err(format!("no *.json specs in {}", dir.display()));
        }

        let mut specs = Vec::with_capacity(files.len());
        let mut ops = HashMap::new();
        let mut resources = Vec::with_capacity(files.len() * 2);
        for path in &files {
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .ok_or_else(|| format!("spec path without file name: {}", path.display()))?;
            let text =
                std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
            let doc: Value =
                serde_json::from_str(&text).map_err(|e| format!("{file}: invalid JSON: {e}"))?;
            let paths = doc
                .get("paths")
                .and_then(Value::as_object)
                .ok_or_else(|| format!("{file}: no `paths` object"))?;

            let spec_idx = specs.len();
            for (path_template, item) in paths {
                let Some(item) = item.as_object() else {
                    return Err(format!(
                        "{file}: path item {path_template} is not an object"
                    ));
                };
                for method in item.keys().filter(|k| HTTP_METHODS.contains(&k.as_str())) {
                    let key = (
                        method.to_ascii_uppercase(),
                        normalize_template(path_template),
                    );
                    if let Some((other, other_path)) =
                        ops.insert(key, (spec_idx, path_template.clone()))
                    {
                        // Lookups ignore parameter names, so these could not be told apart.
                        let other_file = specs.get(other).map_or(file.as_str(), |s: &Spec| &s.file);
                        return Err(format!(
                            "{file}: {} {path_template} is ambiguous with {other_path} in {other_file}",
                            method.to_ascii_uppercase(),
                        ));
                    }
                }
            }

            let response = convert_document(&doc, Direction::Response);
            let request = convert_document(&doc, Direction::Request);
            resources.push((
                doc_uri(&file, Direction::Response),
                Draft::Draft7.create_resource(response.doc),
            ));
            resources.push((
                doc_uri(&file, Direction::Request),
                Draft::Draft7.create_resource(request.doc),
            ));
            // Wrapping does not depend on the direction, so one list serves both.
            specs.push(Spec {
                file,
                doc,
                moves: response.moves,
            });
        }

        let registry = Registry::new()
            .draft(Draft::Draft7)
            .retrieve_known_draft_meta_schemas(false)
            .extend(resources)
            .and_then(|builder| builder.prepare())
            .map_err(|e| {
                format!(
                    "cannot register converted specs from {}: {e}",
                    dir.display()
                )
            })?;

        Ok(SpecIndex {
            dir: dir.to_path_buf(),
            specs,
            ops,
            registry,
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// `$QCB_SPECS_DIR`, else the specs vendored in this workspace.
    pub fn load_default() -> Result<SpecIndex, String> {
        SpecIndex::load(&Self::default_dir())
    }

    pub fn default_dir() -> PathBuf {
        match std::env::var_os("QCB_SPECS_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/qlik/rest"),
        }
    }

    /// Number of spec files loaded.
    pub fn spec_count(&self) -> usize {
        self.specs.len()
    }

    /// Finds the operation for `method` and a path template as axum or OpenAPI
    /// write it. Parameter names are ignored, so `/api/v1/spaces/{id}` finds
    /// `/api/v1/spaces/{spaceId}`; axum's `{*rest}` counts as a parameter too.
    pub fn operation(&self, method: &str, path_template: &str) -> Option<OperationRef> {
        let key = (
            method.to_ascii_uppercase(),
            normalize_template(path_template),
        );
        let (spec, path) = self.ops.get(&key)?;
        Some(OperationRef {
            spec_file: self.specs[*spec].file.clone(),
            method: key.0,
            path: path.clone(),
            spec: *spec,
        })
    }

    /// Every operation of every spec, ordered by spec file, then path, then method.
    pub fn operations(&self) -> Vec<OperationInfo> {
        let mut out: Vec<OperationInfo> = self
            .ops
            .iter()
            .map(|((method, _), (spec, path))| {
                let spec_ref = &self.specs[*spec];
                let op = spec_ref.doc.pointer(&format!(
                    "/paths/{}/{}",
                    escape_token(path),
                    method.to_ascii_lowercase()
                ));
                let tier = op.and_then(|op| op.get("x-qlik-tier"));
                let flag = |key: &str| {
                    op.and_then(|op| op.get(key))
                        .and_then(Value::as_bool)
                        .unwrap_or(false)
                };
                OperationInfo {
                    spec_file: spec_ref.file.clone(),
                    method: method.clone(),
                    path: path.clone(),
                    tier: match tier.and_then(|t| t.get("tier")) {
                        Some(Value::String(s)) => s.clone(),
                        Some(Value::Number(n)) => n.to_string(),
                        _ => String::new(),
                    },
                    limit_per_min: tier
                        .and_then(|t| t.get("limit"))
                        .and_then(|l| {
                            l.as_u64()
                                .or_else(|| l.as_str().and_then(|s| s.parse().ok()))
                        })
                        .and_then(|l| u32::try_from(l).ok())
                        .unwrap_or(0),
                    deprecated: flag("deprecated") || flag("x-qlik-deprecated"),
                }
            })
            .collect();
        out.sort_by(|a, b| {
            (&a.spec_file, &a.path, &a.method).cmp(&(&b.spec_file, &b.path, &b.method))
        });
        out
    }

    /// Validates a response body. The status is looked up as the exact code,
    /// then its `NXX` range, then `default`.
    pub fn validate_response(
        &self,
        op: &OperationRef,
        status: u16,
        content_type: &str,
        body: &Value,
    ) -> Validation {
        let response_ptr = match self.response_pointer(op, status) {
            Ok(ptr) => ptr,
            Err(outcome) => return outcome,
        };
        self.validate_content(op, Direction::Response, &response_ptr, content_type, body)
    }

    /// Validates a request body (POST/PUT/PATCH). `readOnly` properties are not
    /// required here.
    pub fn validate_request(
        &self,
        op: &OperationRef,
        content_type: &str,
        body: &Value,
    ) -> Validation {
        let spec = match self.spec_of(op) {
            Ok(spec) => spec,
            Err(outcome) => return outcome,
        };
        let body_ptr = format!("{}/requestBody", op.pointer());
        if spec.doc.pointer(&body_ptr).is_none() {
            return Validation::NoSchema;
        }
        let Some(body_ptr) = follow_refs(&spec.doc, &body_ptr) else {
            return Validation::SchemaError(format!("{op}: unresolvable requestBody $ref"));
        };
        self.validate_content(op, Direction::Request, &body_ptr, content_type, body)
    }

    /// Every body schema the specs declare, for both directions.
    pub fn schema_sites(&self) -> Vec<SchemaSite> {
        let mut sites = Vec::new();
        for info in self.operations() {
            let Some(op) = self.operation(&info.method, &info.path) else {
                continue;
            };
            let spec = &self.specs[op.spec];
            let op_ptr = op.pointer();
            if let Some(responses) = spec
                .doc
                .pointer(&format!("{op_ptr}/responses"))
                .and_then(Value::as_object)
            {
                for status in responses.keys() {
                    let ptr = format!("{op_ptr}/responses/{}", escape_token(status));
                    let Some(ptr) = follow_refs(&spec.doc, &ptr) else {
                        continue;
                    };
                    sites.extend(media_sites(
                        &spec.doc,
                        &op,
                        Direction::Response,
                        Some(status),
                        &ptr,
                    ));
                }
            }
            if let Some(ptr) = follow_refs(&spec.doc, &format!("{op_ptr}/requestBody")) {
                sites.extend(media_sites(&spec.doc, &op, Direction::Request, None, &ptr));
            }
        }
        sites
    }

    /// Compiles the validator for one site (cached); `Err` names the spec and operation.
    pub fn compile_site(&self, site: &SchemaSite) -> Result<(), String> {
        self.validator(site.op.spec, site.direction, &site.pointer)
            .map(|_| ())
            .map_err(|e| {
                format!(
                    "{} {} {}: {e}",
                    site.op,
                    site.status.as_deref().unwrap_or("request"),
                    site.content_type
                )
            })
    }

    /// Checks every converted schema (components and bodies) against the draft 7
    /// meta-schema. Compilation alone only checks what a body reaches, and the
    /// `$ref` wrapper we compile is trivially valid.
    pub fn meta_check(&self) -> Vec<String> {
        let mut failures = Vec::new();
        for spec in &self.specs {
            for direction in [Direction::Response, Direction::Request] {
                let converted = convert_document(&spec.doc, direction);
                for ptr in schema_roots(&spec.doc) {
                    let Some(schema) = converted.doc.pointer(&ptr) else {
                        continue;
                    };
                    if let Err(e) = jsonschema::draft7::meta::validate(schema) {
                        failures.push(format!("{} ({direction:?}) {ptr}: {e}", spec.file));
                    }
                }
            }
        }
        failures
    }

    /// Every `example`/`examples` entry attached to a JSON body of a response
    /// (or a request, when `direction` says so).
    pub fn body_examples(&self, direction: Direction) -> Vec<ExampleSite> {
        let mut out = Vec::new();
        for site in self
            .schema_sites()
            .into_iter()
            .filter(|s| s.direction == direction)
        {
            let doc = &self.specs[site.op.spec].doc;
            let Some(media_ptr) = site.pointer.strip_suffix("/schema") else {
                continue;
            };
            let Some(media) = doc.pointer(media_ptr) else {
                continue;
            };
            if let Some(value) = media.get("example") {
                out.push(ExampleSite {
                    site: site.clone(),
                    name: "example".into(),
                    value: value.clone(),
                });
            }
            if let Some(examples) = media.get("examples").and_then(Value::as_object) {
                for (name, example) in examples {
                    // Example objects may themselves be `$ref: #/components/examples/X`.
                    let example = match example.get("$ref").and_then(Value::as_str) {
                        Some(r) => r.strip_prefix('#').and_then(|p| doc.pointer(p)),
                        None => Some(example),
                    };
                    if let Some(value) = example.and_then(|e| e.get("value")) {
                        out.push(ExampleSite {
                            site: site.clone(),
                            name: format!("examples/{name}"),
                            value: value.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Validates a body example against the schema of its site.
    pub fn validate_example(&self, example: &ExampleSite) -> Validation {
        self.validate_at(
            example.site.op.spec,
            example.site.direction,
            &example.site.pointer,
            &example.value,
        )
    }

    /// Every `example` attached to a schema node in `components/schemas` or in a
    /// body schema (e.g. a property's `"example": "Read"`).
    pub fn schema_examples(&self) -> Vec<SchemaExample> {
        let mut out = Vec::new();
        for spec in &self.specs {
            for root in schema_roots(&spec.doc) {
                if let Some(schema) = spec.doc.pointer(&root) {
                    collect_schema_examples(schema, &root, &spec.file, &mut out);
                }
            }
        }
        out
    }

    /// Validates a schema-level example against the (response-side) schema it annotates.
    pub fn validate_schema_example(&self, example: &SchemaExample) -> Validation {
        let Some(spec) = self.specs.iter().position(|s| s.file == example.spec_file) else {
            return Validation::SchemaError(format!("unknown spec {}", example.spec_file));
        };
        let pointer = translate_pointer(&self.specs[spec].moves, &example.pointer);
        self.validate_at(spec, Direction::Response, &pointer, &example.value)
    }

    // --- internals -------------------------------------------------------

    /// The spec an operation handle points into, refusing handles minted by
    /// another index (their spec numbers would mean something else here).
    fn spec_of(&self, op: &OperationRef) -> Result<&Spec, Validation> {
        match self.specs.get(op.spec) {
            Some(spec) if spec.file == op.spec_file => Ok(spec),
            _ => Err(Validation::SchemaError(format!(
                "{op}: operation from another SpecIndex"
            ))),
        }
    }

    /// Pointer of the response object for `status`, after following `$ref`s.
    fn response_pointer(&self, op: &OperationRef, status: u16) -> Result<String, Validation> {
        let doc = &self.spec_of(op)?.doc;
        let responses_ptr = format!("{}/responses", op.pointer());
        let Some(responses) = doc.pointer(&responses_ptr).and_then(Value::as_object) else {
            return Err(Validation::UndeclaredStatus);
        };
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        let key = responses
            .keys()
            .find(|k| **k == exact)
            .or_else(|| responses.keys().find(|k| k.eq_ignore_ascii_case(&range)))
            .or_else(|| responses.keys().find(|k| *k == "default"))
            .ok_or(Validation::UndeclaredStatus)?;
        follow_refs(doc, &format!("{responses_ptr}/{}", escape_token(key))).ok_or_else(|| {
            Validation::SchemaError(format!("{op}: unresolvable $ref for response {key}"))
        })
    }

    /// Validates `body` against the media type of the response/request-body
    /// object at `owner_ptr` that matches `content_type`.
    fn validate_content(
        &self,
        op: &OperationRef,
        direction: Direction,
        owner_ptr: &str,
        content_type: &str,
        body: &Value,
    ) -> Validation {
        let doc = match self.spec_of(op) {
            Ok(spec) => &spec.doc,
            Err(outcome) => return outcome,
        };
        let Some(content) = doc
            .pointer(&format!("{owner_ptr}/content"))
            .and_then(Value::as_object)
        else {
            return Validation::NoSchema;
        };
        if content.is_empty() {
            return Validation::NoSchema;
        }
        let Some(media_type) = select_media_type(content, content_type) else {
            return Validation::UndeclaredContentType(content.keys().cloned().collect());
        };
        // Only JSON media types describe a JSON body; a schema on `*/*` or
        // `text/csv` describes bytes (typically `format: binary`).
        if !is_json_media_type(media_type) {
            return Validation::NoSchema;
        }
        let schema_ptr = format!("{owner_ptr}/content/{}/schema", escape_token(media_type));
        if doc.pointer(&schema_ptr).is_none() {
            return Validation::NoSchema;
        }
        self.validate_at(op.spec, direction, &schema_ptr, body)
    }

    fn validate_at(
        &self,
        spec: usize,
        direction: Direction,
        pointer: &str,
        value: &Value,
    ) -> Validation {
        let validator = match self.validator(spec, direction, pointer) {
            Ok(v) => v,
            Err(e) => {
                return Validation::SchemaError(format!("{} {pointer}: {e}", self.specs[spec].file))
            }
        };
        let errors: Vec<String> = validator
            .iter_errors(value)
            .map(|e| describe_error(&e))
            .collect();
        if errors.is_empty() {
            Validation::Valid
        } else {
            Validation::Invalid(errors)
        }
    }

    /// The compiled validator for the converted schema at `pointer`.
    fn validator(
        &self,
        spec: usize,
        direction: Direction,
        pointer: &str,
    ) -> Result<Arc<Validator>, String> {
        let uri = format!(
            "{}#{}",
            doc_uri(&self.specs[spec].file, direction),
            encode_fragment(pointer)
        );
        // A poisoned lock only means another test thread panicked mid-insert;
        // the map itself is still consistent.
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = cache.get(&uri) {
            return hit.clone();
        }
        let wrapper = serde_json::json!({ "$ref": uri });
        let compiled = jsonschema::options()
            .with_draft(Draft::Draft7)
            .with_registry(&self.registry)
            .should_validate_formats(false)
            .build(&wrapper)
            .map(Arc::new)
            .map_err(|e| e.to_string());
        cache.insert(uri, compiled.clone());
        compiled
    }
}

/// `/api/v1/spaces/{spaceId}` and `/api/v1/spaces/{id}` both become `/api/v1/spaces/{}`.
fn normalize_template(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut in_param = false;
    for c in template.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push_str("{}");
            }
            '}' => in_param = false,
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

fn doc_uri(file: &str, direction: Direction) -> String {
    format!("{BASE_URI}{}/{file}", direction.segment())
}

/// RFC 6901 escaping of one reference token.
fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// Percent-encodes a JSON pointer for use as a URI fragment: path templates
/// contain `{` and `}`, which a URI may not carry raw.
fn encode_fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for byte in pointer.bytes() {
        let c = byte as char;
        if c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@/?".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Follows `$ref`s starting at the object at `ptr` (responses, request bodies
/// and examples may be references). Returns the pointer of the final object.
fn follow_refs(doc: &Value, ptr: &str) -> Option<String> {
    let mut current = ptr.to_owned();
    // A chain longer than this is a cycle; refuse rather than loop.
    for _ in 0..16 {
        let node = doc.pointer(&current)?;
        match node.get("$ref").and_then(Value::as_str) {
            Some(r) => current = r.strip_prefix('#')?.to_owned(),
            None => return Some(current),
        }
    }
    None
}

fn media_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn is_json_media_type(media_type: &str) -> bool {
    let essence = media_essence(media_type);
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Picks the `content` key that describes a body sent as `content_type`: exact
/// match, then (for JSON or an unknown type) the first JSON media type, then wildcards.
fn select_media_type<'a>(content: &'a Map<String, Value>, content_type: &str) -> Option<&'a str> {
    let wanted = media_essence(content_type);
    let keys = || content.keys().map(String::as_str);
    if let Some(exact) = keys().find(|k| media_essence(k) == wanted) {
        return Some(exact);
    }
    if wanted.is_empty() || is_json_media_type(&wanted) {
        if let Some(json) = keys().find(|k| is_json_media_type(k)) {
            return Some(json);
        }
    }
    let major = wanted.split('/').next().unwrap_or("");
    keys().find(|k| {
        let k = media_essence(k);
        k == "*/*" || k.strip_suffix("/*").is_some_and(|m| m == major)
    })
}

/// Sites for every media type of one response or request-body object.
fn media_sites(
    doc: &Value,
    op: &OperationRef,
    direction: Direction,
    status: Option<&String>,
    owner_ptr: &str,
) -> Vec<SchemaSite> {
    let Some(content) = doc
        .pointer(&format!("{owner_ptr}/content"))
        .and_then(Value::as_object)
    else {
        return Vec::new();
    };
    content
        .iter()
        .filter(|(media_type, media)| {
            is_json_media_type(media_type) && media.get("schema").is_some()
        })
        .map(|(media_type, _)| SchemaSite {
            op: op.clone(),
            direction,
            status: status.cloned(),
            content_type: media_type.clone(),
            pointer: format!("{owner_ptr}/content/{}/schema", escape_token(media_type)),
        })
        .collect()
}

/// Pointers of every schema the conversion rewrites: component schemas and the
/// `schema` of every media type of responses and request bodies, inline or in
/// `components`. Parameter and header schemas are not bodies and stay as published.
fn schema_roots(doc: &Value) -> Vec<String> {
    let mut roots = Vec::new();
    let map_keys = |ptr: &str| -> Vec<String> {
        doc.pointer(ptr)
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    };
    let media_schemas = |owner: &str, roots: &mut Vec<String>| {
        for media_type in map_keys(&format!("{owner}/content")) {
            let ptr = format!("{owner}/content/{}/schema", escape_token(&media_type));
            if doc.pointer(&ptr).is_some() {
                roots.push(ptr);
            }
        }
    };
    for name in map_keys("/components/schemas") {
        roots.push(format!("/components/schemas/{}", escape_token(&name)));
    }
    for name in map_keys("/components/responses") {
        media_schemas(
            &format!("/components/responses/{}", escape_token(&name)),
            &mut roots,
        );
    }
    for name in map_keys("/components/requestBodies") {
        media_schemas(
            &format!("/components/requestBodies/{}", escape_token(&name)),
            &mut roots,
        );
    }
    for path in map_keys("/paths") {
        let path_ptr = format!("/paths/{}", escape_token(&path));
        for method in map_keys(&path_ptr)
            .into_iter()
            .filter(|m| HTTP_METHODS.contains(&m.as_str()))
        {
            let op_ptr = format!("{path_ptr}/{method}");
            for status in map_keys(&format!("{op_ptr}/responses")) {
                media_schemas(
                    &format!("{op_ptr}/responses/{}", escape_token(&status)),
                    &mut roots,
                );
            }
            media_schemas(&format!("{op_ptr}/requestBody"), &mut roots);
        }
    }
    roots
}

/// A converted spec: same layout as the original, schemas rewritten.
struct Converted {
    doc: Value,
    /// `(original, converted)` pointer prefixes: everything strictly below an
    /// original schema node that was wrapped in `anyOf: [<schema>, null]` now
    /// lives below `<node>/anyOf/0`.
    moves: Vec<(String, String)>,
}

fn convert_document(doc: &Value, direction: Direction) -> Converted {
    let mut cx = ConvertCx {
        doc,
        direction,
        moves: Vec::new(),
        allof_parent: None,
    };
    let mut out = doc.clone();
    let roots = schema_roots(doc);
    for ptr in &roots {
        if let (Some(original), Some(slot)) = (doc.pointer(ptr), out.pointer_mut(ptr)) {
            *slot = convert_schema(original, ptr, ptr, &mut cx);
        }
    }
    // Wrapping moved some subtrees, so `$ref`s into them must follow. Longest
    // prefix first, so nested wraps translate in one step.
    let mut moves = cx.moves;
    moves.sort_by_key(|(orig, _)| std::cmp::Reverse(orig.len()));
    if !moves.is_empty() {
        for ptr in &roots {
            if let Some(slot) = out.pointer_mut(ptr) {
                rewrite_refs(slot, &moves);
            }
        }
    }
    Converted { doc: out, moves }
}

struct ConvertCx<'a> {
    /// The original document, to look through `$ref`s for `readOnly`/`writeOnly`.
    doc: &'a Value,
    direction: Direction,
    moves: Vec<(String, String)>,
    /// Set just before converting an `allOf` member to the schema holding that
    /// `allOf`: a member's `required` often names properties that a sibling
    /// member declares (`knowledgeBase` in knowledgebases.json).
    allof_parent: Option<&'a Value>,
}

/// Keywords whose value is a single schema.
const SCHEMA_KEYWORDS: [&str; 4] = [
    "additionalProperties",
    "additionalItems",
    "not",
    "propertyNames",
];
/// Keywords whose value is an array of schemas.
const SCHEMA_ARRAY_KEYWORDS: [&str; 3] = ["allOf", "anyOf", "oneOf"];
/// Keywords whose value maps names to schemas.
const SCHEMA_MAP_KEYWORDS: [&str; 3] = ["properties", "patternProperties", "definitions"];

/// Converts one OpenAPI 3.0 schema object into draft 7. `orig` and `new` are
/// the node's pointers in the original and converted documents.
fn convert_schema<'a>(schema: &'a Value, orig: &str, new: &str, cx: &mut ConvertCx<'a>) -> Value {
    // Taken, not read: only direct `allOf` members see it, not their subschemas.
    let allof_parent = cx.allof_parent.take();
    let Some(obj) = schema.as_object() else {
        // Boolean schemas and malformed nodes pass through; the meta check reports the latter.
        return schema.clone();
    };

    // `x-nullable` is the Swagger 2 spelling that some Qlik services still emit;
    // the services behind it do send null, so honour it like `nullable`.
    let nullable = obj
        .get("nullable")
        .and_then(Value::as_bool)
        .unwrap_or(false)
        || obj
            .get("x-nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false);
    // `type: [X, "null"]` cannot express "null or this $ref/allOf/...", so those
    // get wrapped; the wrapped content then lives one `anyOf/0` deeper.
    let composite = ["$ref", "allOf", "anyOf", "oneOf", "not"]
        .iter()
        .any(|k| obj.contains_key(*k));
    let wrap = nullable && composite;
    let inner_new = if wrap {
        format!("{new}/anyOf/0")
    } else {
        new.to_owned()
    };
    if wrap {
        cx.moves.push((orig.to_owned(), inner_new.clone()));
    }

    let mut out = Map::new();
    if let Some(reference) = obj.get("$ref") {
        // OpenAPI 3.0 ignores `$ref` siblings; draft 7 does too, drop them.
        out.insert("$ref".into(), reference.clone());
    } else {
        for (key, value) in obj {
            if key.starts_with("x-") || OPENAPI_ONLY_KEYWORDS.contains(&key.as_str()) {
                continue;
            }
            let child = |cx: &mut ConvertCx<'a>, suffix: &str, v: &'a Value| {
                convert_schema(
                    v,
                    &format!("{orig}/{suffix}"),
                    &format!("{inner_new}/{suffix}"),
                    cx,
                )
            };
            let converted = match (key.as_str(), value) {
                (k, Value::Object(map)) if SCHEMA_MAP_KEYWORDS.contains(&k) => Value::Object(
                    map.iter()
                        .map(|(name, v)| {
                            (
                                name.clone(),
                                child(cx, &format!("{k}/{}", escape_token(name)), v),
                            )
                        })
                        .collect(),
                ),
                (k, Value::Array(items)) if SCHEMA_ARRAY_KEYWORDS.contains(&k) || k == "items" => {
                    Value::Array(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, v)| {
                                if k == "allOf" {
                                    cx.allof_parent = Some(schema);
                                }
                                child(cx, &format!("{k}/{i}"), v)
                            })
                            .collect(),
                    )
                }
                (k, v @ Value::Object(_)) if SCHEMA_KEYWORDS.contains(&k) || k == "items" => {
                    child(cx, k, v)
                }
                ("required", Value::Array(names)) => {
                    let flag = cx.direction.optional_flag();
                    let kept: Vec<Value> = names
                        .iter()
                        .filter(|n| {
                            n.as_str().is_none_or(|name| {
                                let flagged =
                                    |s: &Value| property_flagged(s, name, flag, cx.doc, 0);
                                !(flagged(schema) || allof_parent.is_some_and(flagged))
                            })
                        })
                        .cloned()
                        .collect();
                    Value::Array(kept)
                }
                // OpenAPI 3.0 only knows `required` as a list; a boolean here is
                // Swagger 2 residue that draft 7 would reject.
                ("required", _) => continue,
                ("pattern", Value::String(pattern)) => {
                    Value::String(literal_angle_brackets(pattern))
                }
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }
        // OpenAPI tools pick a `oneOf` branch by `discriminator` (or not at all), and Qlik's
        // specs rely on that: the IdP branches (OIDC, SAML, jwtAuth) and UsageEnum's titled
        // constants overlap, so "exactly one" can never hold. Read `oneOf` as `anyOf`.
        if !out.contains_key("anyOf") {
            if let Some(branches) = out.remove("oneOf") {
                out.insert("anyOf".into(), branches);
                // Pointers into the branches (examples, `$ref`s) follow the rename.
                cx.moves
                    .push((format!("{orig}/oneOf"), format!("{inner_new}/anyOf")));
            }
        }
        if nullable {
            match out.get_mut("type") {
                Some(Value::String(t)) => {
                    let t = std::mem::take(t);
                    out.insert(
                        "type".into(),
                        Value::Array(vec![Value::String(t), "null".into()]),
                    );
                }
                Some(Value::Array(types)) if !types.iter().any(|t| t == "null") => {
                    types.push("null".into())
                }
                _ => {}
            }
        }
    }
    // Without this, `enum: ["a", "b"]` keeps rejecting null even with `type: [.., "null"]`.
    if nullable && !wrap {
        if let Some(Value::Array(values)) = out.get_mut("enum") {
            if !values.contains(&Value::Null) {
                values.push(Value::Null);
            }
        }
    }

    let out = Value::Object(out);
    if wrap {
        serde_json::json!({ "anyOf": [out, { "type": "null" }] })
    } else {
        out
    }
}

/// Rewrites `\<` and `\>` to plain `<` and `>`. In ECMA-262 (the dialect of
/// JSON Schema patterns) they are the literal characters, and Qlik writes them
/// that way (spaces.json's name pattern `^[^\"\*\?\<\>\/\|\\\:]+$`); the Rust
/// engine behind `jsonschema` reads them as word boundaries instead, and rejects
/// them inside a character class. Every other escape means the same in both.
fn literal_angle_brackets(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some(bracket @ ('<' | '>')) => out.push(bracket),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Whether property `name` of `schema` carries `flag` (`readOnly`/`writeOnly`),
/// looking through `$ref`s and into `allOf` members, where Qlik often declares
/// the properties that a sibling `required` lists.
fn property_flagged(schema: &Value, name: &str, flag: &str, doc: &Value, depth: usize) -> bool {
    // Deep enough for real specs, shallow enough to stop recursive schemas.
    if depth > 12 {
        return false;
    }
    let schema = resolve_local(doc, schema, depth);
    if let Some(property) = schema.get("properties").and_then(|p| p.get(name)) {
        return schema_flagged(property, flag, doc, depth + 1);
    }
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|members| {
            members
                .iter()
                .any(|m| property_flagged(m, name, flag, doc, depth + 1))
        })
}

/// Whether a (property) schema is itself marked with `flag`.
fn schema_flagged(schema: &Value, flag: &str, doc: &Value, depth: usize) -> bool {
    if depth > 12 {
        return false;
    }
    if schema.get(flag).and_then(Value::as_bool).unwrap_or(false) {
        return true;
    }
    if schema.get("$ref").is_some() {
        return schema_flagged(resolve_local(doc, schema, depth), flag, doc, depth + 1);
    }
    schema
        .get("allOf")
        .and_then(Value::as_array)
        .is_some_and(|members| {
            members
                .iter()
                .any(|m| schema_flagged(m, flag, doc, depth + 1))
        })
}

/// Follows a local `$ref` chain; unresolvable references resolve to the node itself.
fn resolve_local<'a>(doc: &'a Value, mut schema: &'a Value, depth: usize) -> &'a Value {
    for _ in depth..16 {
        let Some(target) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|p| doc.pointer(p))
        else {
            break;
        };
        schema = target;
    }
    schema
}

/// Rewrites local `$ref`s in a converted schema through `moves`. Walks the
/// same keywords as the conversion, so data (`enum`, `default`, a property
/// that happens to be called `default`) is never mistaken for a schema.
fn rewrite_refs(schema: &mut Value, moves: &[(String, String)]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    for (key, value) in obj.iter_mut() {
        match (key.as_str(), value) {
            ("$ref", Value::String(reference)) => {
                if let Some(ptr) = reference.strip_prefix('#') {
                    let translated = translate_pointer(moves, ptr);
                    if translated != ptr {
                        *reference = format!("#{translated}");
                    }
                }
            }
            (k, Value::Object(map)) if SCHEMA_MAP_KEYWORDS.contains(&k) => {
                map.values_mut().for_each(|v| rewrite_refs(v, moves));
            }
            (k, Value::Array(items)) if SCHEMA_ARRAY_KEYWORDS.contains(&k) || k == "items" => {
                items.iter_mut().for_each(|v| rewrite_refs(v, moves));
            }
            (k, v @ Value::Object(_)) if SCHEMA_KEYWORDS.contains(&k) || k == "items" => {
                rewrite_refs(v, moves);
            }
            _ => {}
        }
    }
}

/// Maps a pointer in the original layout to the converted layout.
fn translate_pointer(moves: &[(String, String)], ptr: &str) -> String {
    // `moves` is sorted longest-first, so the first hit is the innermost wrap.
    for (orig, new) in moves {
        if let Some(rest) = ptr.strip_prefix(orig.as_str()) {
            if rest.starts_with('/') {
                return format!("{new}{rest}");
            }
        }
    }
    ptr.to_owned()
}

/// Collects `example`s of `schema` and every subschema, with original pointers.
fn collect_schema_examples(schema: &Value, ptr: &str, file: &str, out: &mut Vec<SchemaExample>) {
    let Some(obj) = schema.as_object() else {
        return;
    };
    if obj.contains_key("$ref") {
        // Siblings of `$ref` are ignored by OpenAPI 3.0, examples included.
        return;
    }
    if let Some(value) = obj.get("example") {
        out.push(SchemaExample {
            spec_file: file.to_owned(),
            pointer: ptr.to_owned(),
            value: value.clone(),
        });
    }
    for (key, value) in obj {
        match (key.as_str(), value) {
            (k, Value::Object(map)) if SCHEMA_MAP_KEYWORDS.contains(&k) => {
                for (name, v) in map {
                    collect_schema_examples(
                        v,
                        &format!("{ptr}/{k}/{}", escape_token(name)),
                        file,
                        out,
                    );
                }
            }
            (k, Value::Array(items)) if SCHEMA_ARRAY_KEYWORDS.contains(&k) || k == "items" => {
                for (i, v) in items.iter().enumerate() {
                    collect_schema_examples(v, &format!("{ptr}/{k}/{i}"), file, out);
                }
            }
            (k, v @ Value::Object(_)) if SCHEMA_KEYWORDS.contains(&k) || k == "items" => {
                collect_schema_examples(v, &format!("{ptr}/{k}"), file, out);
            }
            _ => {}
        }
    }
}

/// `"/name: 42 is not of type \"string\" (at spaces.json#/components/schemas/Space/properties/name/type)"`.
fn describe_error(error: &jsonschema::ValidationError<'_>) -> String {
    use jsonschema::error::{TypeKind, ValidationErrorKind};
    use jsonschema::JsonType;

    let instance = error.instance_path().as_str();
    let instance = if instance.is_empty() { "/" } else { instance };
    let message = match error.kind() {
        // The default message dumps the whole instance and hides why each
        // alternative failed; the reasons are what a reader needs.
        ValidationErrorKind::AnyOf { context } | ValidationErrorKind::OneOfNotValid { context } => {
            let keyword = if matches!(error.kind(), ValidationErrorKind::AnyOf { .. }) {
                "anyOf"
            } else {
                "oneOf"
            };
            // The `{type: null}` branch of a nullable wrapper fails for every
            // non-null value; listing it is noise.
            let is_null_branch = |branch: &Vec<jsonschema::ValidationError<'static>>| {
                branch.len() == 1
                    && matches!(
                        branch[0].kind(),
                        ValidationErrorKind::Type {
                            kind: TypeKind::Single(JsonType::Null)
                        }
                    )
            };
            let reasons: Vec<String> = context
                .iter()
                .filter(|branch| !is_null_branch(branch))
                .map(|branch| {
                    branch
                        .iter()
                        .map(describe_error)
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .collect();
            // A nullable wrapper leaves one real alternative: report its
            // errors as if there were no wrapper (they carry their own pointers).
            if let [only] = reasons.as_slice() {
                return only.clone();
            }
            format!(
                "matches none of the `{keyword}` alternatives: [{}]",
                reasons.join(" | ")
            )
        }
        _ => truncate(&error.to_string(), 240),
    };
    let location = error
        .absolute_keyword_location()
        .map(|uri| {
            let uri = uri.as_str();
            let short = uri.strip_prefix(BASE_URI).unwrap_or(uri);
            // Drop the direction segment and percent-encoding for readability.
            let short = short.split_once('/').map_or(short, |(_, rest)| rest);
            format!(" (at {})", percent_decode(short))
        })
        .unwrap_or_default();
    format!("{instance}: {message}{location}")
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(hi), Some(lo)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                // Two hex digits always fit in a byte.
                out.push((hi * 16 + lo) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
