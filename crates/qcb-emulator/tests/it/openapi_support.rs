//! Tests of the OpenAPI validator in `support::openapi`, against the vendored
//! Qlik specs and against a small synthetic spec that pins the conversion rules.

use crate::support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{json, Value};
use support::openapi::{Direction, SpecIndex, Validation};

/// Loading converts 80 documents twice; share one index between tests.
fn index() -> &'static SpecIndex {
    static INDEX: OnceLock<SpecIndex> = OnceLock::new();
    INDEX.get_or_init(|| SpecIndex::load_default().unwrap_or_else(|e| panic!("loading specs: {e}")))
}

fn endpoints_tsv() -> PathBuf {
    SpecIndex::default_dir().join("../endpoints.tsv")
}

fn assert_invalid(outcome: &Validation) -> &[String] {
    match outcome {
        Validation::Invalid(errors) => errors,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn loads_every_spec_and_matches_the_endpoint_index() {
    let index = index();
    let spec_files = std::fs::read_dir(SpecIndex::default_dir())
        .expect("spec dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "json"))
        })
        .count();
    assert_eq!(index.spec_count(), spec_files);

    let tsv = std::fs::read_to_string(endpoints_tsv()).expect("endpoints.tsv");
    let rows: Vec<Vec<&str>> = tsv
        .lines()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split('\t').collect())
        .collect();
    let operations = index.operations();
    println!(
        "{} specs, {} operations, {} endpoints.tsv rows",
        index.spec_count(),
        operations.len(),
        rows.len()
    );
    assert_eq!(operations.len(), rows.len());
    assert_eq!(
        operations.len(),
        685,
        "the vendored specs define 685 operations"
    );

    // The index and the specs must agree on tier and rate limit too.
    let by_key: BTreeMap<(&str, &str, &str), _> = operations
        .iter()
        .map(|o| {
            (
                (o.spec_file.as_str(), o.method.as_str(), o.path.as_str()),
                o,
            )
        })
        .collect();
    for row in &rows {
        let (spec, method, path, tier, limit) = (row[0], row[1], row[2], row[3], row[4]);
        let op = by_key
            .get(&(spec, method, path))
            .unwrap_or_else(|| panic!("{spec} {method} {path} not in specs"));
        assert_eq!(op.tier, tier, "tier of {spec} {method} {path}");
        assert_eq!(
            op.limit_per_min.to_string(),
            limit,
            "limit of {spec} {method} {path}"
        );
    }
    let deprecated = operations.iter().filter(|o| o.deprecated).count();
    println!("{deprecated} operations are deprecated");
}

#[test]
fn every_body_schema_compiles_and_is_valid_draft7() {
    let index = index();
    let sites = index.schema_sites();
    let mut failures = Vec::new();
    let mut compiled = BTreeMap::<&str, usize>::new();
    for site in &sites {
        match index.compile_site(site) {
            Ok(()) => {
                *compiled
                    .entry(if site.direction == Direction::Response {
                        "response"
                    } else {
                        "request"
                    })
                    .or_default() += 1
            }
            Err(e) => failures.push(e),
        }
    }
    println!("{} body schema sites, compiled: {compiled:?}", sites.len());
    assert!(
        failures.is_empty(),
        "{} schemas failed to compile:\n{}",
        failures.len(),
        failures.join("\n")
    );

    let meta = index.meta_check();
    assert!(
        meta.is_empty(),
        "{} converted schemas are not valid draft 7:\n{}",
        meta.len(),
        meta.join("\n")
    );
}

/// A body that satisfies `Space` (spaces.json) in full.
fn space() -> Value {
    json!({
        "id": "62716f4b39b865ece543cd45",
        "name": "Finance",
        "type": "shared",
        "tenantId": "xqGQ0k66vSR8f9G7J-vYtHZQkiYrCpct",
        "ownerId": "abc",
        "createdAt": "2024-01-02T03:04:05Z",
        "createdBy": "abc",
        "updatedAt": "2024-01-02T03:04:05Z",
        "description": "",
        "meta": { "roles": ["producer"], "actions": ["read", "update"], "assignableRoles": ["consumer"] },
        "links": {
            "self": { "href": "https://t.example/api/v1/spaces/62716f4b39b865ece543cd45" },
            "assignments": { "href": "https://t.example/api/v1/spaces/62716f4b39b865ece543cd45/assignments" }
        }
    })
}

#[test]
fn space_bodies_are_validated() {
    let index = index();
    let op = index
        .operation("GET", "/api/v1/spaces/{spaceId}")
        .expect("GET space");
    assert_eq!(op.spec_file, "spaces.json");

    assert_eq!(
        index.validate_response(&op, 200, "application/json", &space()),
        Validation::Valid
    );
    // Content-type parameters do not matter.
    assert_eq!(
        index.validate_response(&op, 200, "application/json; charset=utf-8", &space()),
        Validation::Valid
    );

    let mut wrong = space();
    wrong["name"] = json!(42);
    wrong.as_object_mut().expect("object").remove("tenantId");
    wrong["meta"]["roles"] = json!(["root"]);
    let outcome = index.validate_response(&op, 200, "application/json", &wrong);
    let errors = assert_invalid(&outcome);
    println!("invalid space: {errors:#?}");
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/name:") && e.contains("string")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("/:") && e.contains("tenantId")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.starts_with("/meta/roles/0:")),
        "{errors:?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.contains("spaces.json#/components/schemas/Space")),
        "{errors:?}"
    );

    // Error bodies are validated against the declared error schema.
    let problem =
        json!({ "errors": [{ "code": "SPACES-1", "title": "Not found" }], "traceId": "t" });
    assert_eq!(
        index.validate_response(&op, 404, "application/json", &problem),
        Validation::Valid
    );
    let bad_problem = json!({ "errors": [{ "code": "SPACES-1" }] });
    assert!(matches!(
        index.validate_response(&op, 404, "application/json", &bad_problem),
        Validation::Invalid(_)
    ));

    assert_eq!(
        index.validate_response(&op, 418, "application/json", &space()),
        Validation::UndeclaredStatus
    );
    assert!(matches!(
        index.validate_response(&op, 200, "text/csv", &space()),
        Validation::UndeclaredContentType(_)
    ));

    let delete = index
        .operation("DELETE", "/api/v1/spaces/{spaceId}")
        .expect("DELETE space");
    assert_eq!(
        index.validate_response(&delete, 204, "", &Value::Null),
        Validation::NoSchema
    );
}

#[test]
fn nullable_fields_accept_null() {
    let index = index();
    let op = index
        .operation("GET", "/api/v1/data-files/{id}")
        .expect("GET data file");
    let stats: serde_json::Map<String, Value> = [
        "aggregateAppScopedFileSize",
        "aggregateFileSize",
        "aggregateInternalFileSize",
        "directAppScopedFileCount",
        "directFileCount",
        "directFolderCount",
        "directInternalFileCount",
        "totalAppScopedFileCount",
        "totalFileCount",
        "totalFolderCount",
        "totalInternalFileCount",
    ]
    .iter()
    .map(|k| (k.to_string(), json!(0)))
    .collect();
    let mut file = json!({
        "id": "9b0c3b44-3b4b-4b38-9c1e-2a4cfb2f3f0e",
        "name": "sales.csv",
        "size": 10,
        "ownerId": "u1",
        "actions": ["read"],
        "createdDate": "2024-01-02T03:04:05Z",
        "folderStats": stats,
        "qri": null,
        "appId": null,
        "spaceId": "s1",
        "modifiedDate": null
    });
    assert_eq!(
        index.validate_response(&op, 200, "application/json", &file),
        Validation::Valid
    );
    // A non-nullable field still rejects null.
    file["name"] = Value::Null;
    let outcome = index.validate_response(&op, 200, "application/json", &file);
    assert!(
        assert_invalid(&outcome)
            .iter()
            .any(|e| e.starts_with("/name:")),
        "{outcome:?}"
    );
}

#[test]
fn read_only_properties_are_not_required_in_requests() {
    let index = index();
    let op = index
        .operation("PUT", "/api/v1/assistants/{id}/starters/{id2}")
        .expect("PUT starter");
    // `Starter` requires the read-only createdAt/updatedAt, which a client cannot send.
    let starter = json!({
        "id": "507f191e810c19729de860ea",
        "question": "Where?",
        "additionalContext": "",
        "recommendedAnswer": {}
    });
    let outcome = index.validate_request(&op, "application/json", &starter);
    assert!(
        !matches!(outcome, Validation::Invalid(ref e) if e.iter().any(|e| e.contains("createdAt"))),
        "{outcome:?}"
    );
    // The same body as a response misses them.
    let outcome = index.validate_response(&op, 200, "application/json", &starter);
    if let Validation::Invalid(errors) = &outcome {
        assert!(errors.iter().any(|e| e.contains("createdAt")), "{errors:?}");
    }
    let get = index
        .operation("GET", "/api/v1/spaces/{spaceId}")
        .expect("GET space");
    assert_eq!(
        index.validate_request(&get, "application/json", &json!({})),
        Validation::NoSchema
    );
}

#[test]
fn path_templates_match_ignoring_parameter_names() {
    let index = index();
    let a = index
        .operation("GET", "/api/v1/spaces/{spaceId}")
        .expect("exact");
    let b = index
        .operation("get", "/api/v1/spaces/{id}")
        .expect("renamed parameter");
    assert_eq!(a, b);
    assert_eq!(b.path, "/api/v1/spaces/{spaceId}");
    assert!(
        index.operation("GET", "/api/v1/spaces/{*rest}").is_some(),
        "axum wildcard counts as a parameter"
    );
    assert!(
        index.operation("GET", "/api/v1/spaces/x").is_none(),
        "a literal is not a parameter"
    );
    assert!(index.operation("GET", "/api/v1/nope").is_none());
    assert!(index.operation("PATCH", "/api/v1/spaces").is_none());
    let well_known = index
        .operation("GET", "/.well-known/oauth-authorization-server")
        .expect("dot-file spec");
    assert_eq!(well_known.spec_file, ".well-known.json");
}

/// Not a gate: the published examples often contradict their own schema, and
/// the schema is what we hold the emulator to. This measures by how much.
#[test]
fn report_examples_that_contradict_their_schema() {
    let index = index();
    let report = |label: &str, outcomes: Vec<(String, Validation)>| {
        let total = outcomes.len();
        let bad: Vec<_> = outcomes
            .into_iter()
            .filter(|(_, v)| !v.is_valid())
            .collect();
        println!("{label}: {} of {total} contradict their schema", bad.len());
        // QCB_ALL_EXAMPLES=1 lists every contradiction instead of a sample.
        let shown = if std::env::var_os("QCB_ALL_EXAMPLES").is_some() {
            bad.len()
        } else {
            8
        };
        for (site, outcome) in bad.iter().take(shown) {
            let outcome = outcome.to_string();
            println!(
                "  {site}: {}",
                outcome.chars().take(300).collect::<String>()
            );
        }
        let broken: Vec<_> = bad
            .iter()
            .filter(|(_, v)| matches!(v, Validation::SchemaError(_)))
            .collect();
        assert!(
            broken.is_empty(),
            "{label}: schema errors, not contradictions: {broken:#?}"
        );
    };

    let body = index
        .body_examples(Direction::Response)
        .into_iter()
        .map(|ex| {
            let site = format!(
                "{} {} {} {}",
                ex.site.op,
                ex.site.status.as_deref().unwrap_or(""),
                ex.site.content_type,
                ex.name
            );
            (site, index.validate_example(&ex))
        })
        .collect();
    report("response body examples", body);

    let schema = index
        .schema_examples()
        .into_iter()
        .map(|ex| {
            (
                format!("{}#{}", ex.spec_file, ex.pointer),
                index.validate_schema_example(&ex),
            )
        })
        .collect();
    report("schema-level examples", schema);
}

/// A synthetic spec exercising every conversion rule in isolation.
#[test]
fn conversion_rules_on_a_synthetic_spec() {
    let spec = json!({
        "openapi": "3.0.0",
        "info": { "title": "t", "version": "1" },
        "paths": {
            "/derived": {
                "post": {
                    "requestBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Derived" } } } },
                    "responses": { "201": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Derived" } } } } }
                }
            },
            "/things/{thingId}": {
                "get": {
                    "responses": {
                        "200": { "content": {
                            "application/vnd.api+json": { "schema": { "$ref": "#/components/schemas/Thing" } },
                            "text/csv": { "schema": { "type": "string" } }
                        } },
                        "4XX": { "$ref": "#/components/responses/Problem" },
                        "default": { "content": { "application/json": { "schema": { "type": "object", "required": ["fallback"] } } } }
                    }
                },
                "put": {
                    "requestBody": { "$ref": "#/components/requestBodies/ThingBody" },
                    "responses": { "204": { "description": "done" } }
                }
            }
        },
        "components": {
            "responses": {
                "Problem": { "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }
            },
            "requestBodies": {
                "ThingBody": { "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Thing" } } } }
            },
            "schemas": {
                "Problem": { "type": "object", "required": ["title"], "properties": { "title": { "type": "string" } }, "example": { "title": "t" } },
                "Base": { "type": "object", "properties": { "baseId": { "type": "string", "readOnly": true } } },
                "Derived": { "allOf": [
                    { "$ref": "#/components/schemas/Base" },
                    { "type": "object", "required": ["baseId", "label"], "properties": { "label": { "type": "string" } } }
                ] },
                "Id": { "type": "string", "readOnly": true, "format": "uid" },
                "Kind": { "type": "string", "enum": ["a", "b"] },
                "Thing": {
                    "type": "object",
                    "required": ["id", "name", "kind", "parent", "mixed", "secret", "discriminator"],
                    "discriminator": { "propertyName": "kind" },
                    "x-qlik-anything": { "type": "number" },
                    "properties": {
                        "id": { "$ref": "#/components/schemas/Id" },
                        "name": { "type": "string", "nullable": true, "enum": ["x", "y"], "example": 3 },
                        "kind": { "$ref": "#/components/schemas/Kind", "nullable": true },
                        "parent": { "$ref": "#/components/schemas/Thing", "nullable": true },
                        "mixed": { "nullable": true, "allOf": [{ "$ref": "#/components/schemas/Kind" }] },
                        "secret": { "type": "string", "writeOnly": true },
                        "count": { "type": "integer", "format": "int64", "x-nullable": true },
                        "when": { "type": "string", "format": "date-time" },
                        "nameAlias": { "$ref": "#/components/schemas/Thing/properties/name" },
                        "mixedFirst": { "$ref": "#/components/schemas/Thing/properties/mixed/allOf/0" },
                        "discriminator": { "type": "string", "description": "a property that happens to be named like a keyword" }
                    }
                }
            }
        }
    });
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("things.json"),
        serde_json::to_vec(&spec).expect("json"),
    )
    .expect("write spec");
    let index = SpecIndex::load(dir.path()).expect("load synthetic spec");
    let get = index.operation("GET", "/things/{id}").expect("GET thing");
    let put = index.operation("PUT", "/things/{x}").expect("PUT thing");

    let thing = json!({
        "id": "a", "name": null, "kind": null, "mixed": null, "discriminator": "d", "count": null,
        "when": "not a date: formats are annotations",
        "parent": { "id": "b", "name": "x", "kind": "a", "parent": null, "mixed": "b", "discriminator": "d" }
    });
    let valid = |v: Validation| assert_eq!(v, Validation::Valid);
    // Recursive `$ref`, nullable `$ref`/`allOf`/enum, writeOnly not required in responses,
    // unknown formats, and `+json` media types.
    valid(index.validate_response(&get, 200, "application/vnd.api+json", &thing));
    valid(index.validate_response(&get, 200, "", &thing));
    // readOnly `id` (through a `$ref`) is optional in requests, writeOnly `secret` is required.
    let mut request = thing.clone();
    request.as_object_mut().expect("object").remove("id");
    request["secret"] = json!("s");
    request["parent"]["secret"] = json!("s");
    valid(index.validate_request(&put, "application/json", &request));
    let outcome = index.validate_request(&put, "application/json", &thing);
    assert!(
        assert_invalid(&outcome)
            .iter()
            .any(|e| e.contains("secret")),
        "{outcome:?}"
    );

    let mut bad = thing.clone();
    bad["name"] = json!("z");
    bad["kind"] = json!("c");
    bad["parent"]["mixed"] = json!("c");
    bad["nameAlias"] = json!("q");
    // Points into the `allOf` that the nullable wrap moved, and that allOf is not nullable.
    bad["mixedFirst"] = Value::Null;
    bad["discriminator"] = json!(1);
    let outcome = index.validate_response(&get, 200, "application/json", &bad);
    let errors = assert_invalid(&outcome);
    for pointer in [
        "/name:",
        "/kind:",
        "/parent/mixed:",
        "/nameAlias:",
        "/mixedFirst:",
        "/discriminator:",
    ] {
        assert!(
            errors.iter().any(|e| e.starts_with(pointer)),
            "no error at {pointer}: {errors:#?}"
        );
        // The `{type: null}` alternative of nullable wrappers is not reported.
        assert!(errors.iter().all(|e| !e.contains("anyOf")), "{errors:#?}");
    }

    // Status fallback: exact, then range (through a `$ref`'d response), then default.
    valid(index.validate_response(
        &get,
        404,
        "application/problem+json",
        &json!({ "title": "gone" }),
    ));
    assert!(matches!(
        index.validate_response(&get, 404, "application/problem+json", &json!({})),
        Validation::Invalid(_)
    ));
    valid(index.validate_response(&get, 500, "application/json", &json!({ "fallback": 1 })));
    assert_eq!(
        index.validate_response(&get, 200, "text/csv", &json!("a,b")),
        Validation::NoSchema
    );
    assert_eq!(
        index.validate_response(&put, 204, "", &Value::Null),
        Validation::NoSchema
    );
    assert_eq!(
        index.validate_response(&put, 200, "application/json", &Value::Null),
        Validation::UndeclaredStatus
    );

    // A `required` in one `allOf` member naming a readOnly property of a sibling.
    let derived = index.operation("POST", "/derived").expect("POST derived");
    valid(index.validate_request(&derived, "application/json", &json!({ "label": "l" })));
    let outcome =
        index.validate_response(&derived, 201, "application/json", &json!({ "label": "l" }));
    assert!(
        assert_invalid(&outcome)
            .iter()
            .any(|e| e.contains("baseId")),
        "{outcome:?}"
    );

    assert!(index.meta_check().is_empty(), "{:?}", index.meta_check());
    let examples = index.schema_examples();
    let bad_examples: Vec<_> = examples
        .iter()
        .filter(|e| !index.validate_schema_example(e).is_valid())
        .collect();
    assert_eq!(examples.len(), 2);
    assert_eq!(
        bad_examples.len(),
        1,
        "only `name: 3` contradicts: {bad_examples:?}"
    );
}
