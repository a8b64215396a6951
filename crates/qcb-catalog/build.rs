//! Reads Qlik's specs (`specs/qlik/rest`) and writes, for every operation that takes a JSON
//! body, the top-level properties its request schema names (readOnly ones left out) and the
//! ones it requires. A restore sends back only what the API accepts on create and update, so
//! the fields a server stamps (`id`, `createdAt`, `links`, …) never go back, whatever the
//! kind; and the list is Qlik's own, not ours.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        let mut target = spec;
        for part in r.trim_start_matches("#/").split('/') {
            target = match target.get(part) {
                Some(t) => t,
                None => return v,
            };
        }
        v = target;
    }
    v
}

/// Properties and required names of a schema, through allOf / oneOf / anyOf.
fn collect(
    spec: &Value,
    schema: &Value,
    props: &mut BTreeSet<String>,
    required: &mut BTreeSet<String>,
    depth: usize,
) {
    if depth > 8 {
        return;
    }
    let s = resolve(spec, schema);
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        for (name, v) in p {
            let v = resolve(spec, v);
            if v.get("readOnly").and_then(Value::as_bool) != Some(true) {
                props.insert(name.clone());
            }
        }
    }
    if let Some(r) = s.get("required").and_then(Value::as_array) {
        for n in r.iter().filter_map(Value::as_str) {
            required.insert(n.to_string());
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        if let Some(list) = s.get(key).and_then(Value::as_array) {
            for sub in list {
                // Required names of alternative branches are not required of every body.
                let mut r = BTreeSet::new();
                collect(spec, sub, props, &mut r, depth + 1);
                if key == "allOf" {
                    required.extend(r);
                }
            }
        }
    }
}

/// The `path` values a JSON Patch body may name, where the spec lists them.
fn patch_paths(spec: &Value, schema: &Value, out: &mut BTreeSet<String>, depth: usize) {
    if depth > 8 {
        return;
    }
    let s = resolve(spec, schema);
    if let Some(items) = s.get("items") {
        patch_paths(spec, items, out, depth + 1);
    }
    if let Some(p) = s.get("properties").and_then(|p| p.get("path")) {
        let p = resolve(spec, p);
        for e in p
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(e) = e.as_str() {
                out.insert(e.to_string());
            }
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for sub in s.get(key).and_then(Value::as_array).into_iter().flatten() {
            patch_paths(spec, sub, out, depth + 1);
        }
    }
}

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default())
        .join("../../specs/qlik/rest");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut op_files = String::from(
        "/// (method, path, spec file) of every operation with a request body.\n\
         pub static REQUEST_SPEC: &[(&str, &str, &str)] = &[\n",
    );
    let mut embeds = String::from(
        "/// Every spec, embedded: (file name, text).\npub static SPECS: &[(&str, &str)] = &[\n",
    );
    let mut out = String::from(
        "/// (method, path, properties, required) of every JSON request body in the specs. For a\n\
         /// JSON Patch body (an array), the properties are the paths it may name and `required` is\n\
         /// `[\"[]\"]`.\n\
         pub static REQUEST_FIELDS: &[(&str, &str, &[&str], &[&str])] = &[\n",
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "json"))
    {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let fname = file
            .file_name()
            .map(|f| f.to_string_lossy().to_string())
            .unwrap_or_default();
        let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.clone());
        let _ = writeln!(
            embeds,
            "    ({fname:?}, include_str!({:?})),",
            abs.display().to_string()
        );
        let Ok(spec) = serde_json::from_str::<Value>(&text) else {
            continue;
        };
        let Some(paths) = spec.get("paths").and_then(Value::as_object) else {
            continue;
        };
        for (path, ops) in paths {
            let Some(ops) = ops.as_object() else { continue };
            for (method, op) in ops {
                if !matches!(method.as_str(), "post" | "put" | "patch") {
                    continue;
                }
                let Some(content) = op
                    .get("requestBody")
                    .map(|b| resolve(&spec, b))
                    .and_then(|b| b.get("content"))
                    .and_then(Value::as_object)
                else {
                    continue;
                };
                // A multipart upload's JSON `data` part (themes, extensions) is listed as
                // `<path>#data`.
                let (path, schema) = match content
                    .iter()
                    .find(|(ct, _)| ct.contains("json"))
                    .and_then(|(_, m)| m.get("schema"))
                {
                    Some(schema) => (path.clone(), schema),
                    None => match content
                        .get("multipart/form-data")
                        .and_then(|m| m.get("schema"))
                        .map(|s| resolve(&spec, s))
                        .and_then(|s| s.pointer("/properties/data"))
                    {
                        Some(data) => (format!("{path}#data"), data),
                        None => continue,
                    },
                };
                let mut props = BTreeSet::new();
                let mut required = BTreeSet::new();
                if resolve(&spec, schema).get("type").and_then(Value::as_str) == Some("array") {
                    patch_paths(&spec, schema, &mut props, 0);
                    required.insert("[]".to_string());
                } else {
                    collect(&spec, schema, &mut props, &mut required, 0);
                }
                let list = |s: &BTreeSet<String>| {
                    s.iter()
                        .map(|p| format!("{p:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let _ = writeln!(
                    op_files,
                    "    ({:?}, {:?}, {:?}),",
                    method.to_uppercase(),
                    path,
                    fname
                );
                let _ = writeln!(
                    out,
                    "    ({:?}, {:?}, &[{}], &[{}]),",
                    method.to_uppercase(),
                    path,
                    list(&props),
                    list(&required)
                );
            }
        }
    }
    out.push_str("];\n");
    op_files.push_str("];\n");
    embeds.push_str("];\n");
    out.push_str(&op_files);
    out.push_str(&embeds);
    let dest = Path::new(&std::env::var("OUT_DIR").unwrap_or_default()).join("request_fields.rs");
    if let Err(e) = std::fs::write(&dest, out) {
        panic!("cannot write {}: {e}", dest.display());
    }
}
