//! What Qlik's specs say a write accepts: the top-level properties of each operation's JSON
//! request body (readOnly ones left out) and the required ones, generated at build time from
//! `specs/qlik/rest` (see build.rs).

include!(concat!(env!("OUT_DIR"), "/request_fields.rs"));

use std::collections::HashMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

fn parsed() -> &'static HashMap<&'static str, Value> {
    static P: OnceLock<HashMap<&'static str, Value>> = OnceLock::new();
    P.get_or_init(|| {
        SPECS
            .iter()
            .filter_map(|(name, text)| serde_json::from_str(text).ok().map(|v| (*name, v)))
            .collect()
    })
}

fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return v;
        };
        match spec.pointer(r.trim_start_matches('#')) {
            Some(t) => v = t,
            None => return v,
        }
    }
    v
}

/// The request schema of `method path` (a `#data` suffix names a multipart upload's JSON
/// part), with the spec it lives in.
fn request_schema(method: &str, path: &str) -> Option<(&'static Value, &'static Value)> {
    let (base, data_part) = match path.strip_suffix("#data") {
        Some(b) => (b, true),
        None => (path, false),
    };
    let file = REQUEST_SPEC
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, f)| *f)?;
    let spec = parsed().get(file)?;
    let op = spec
        .get("paths")?
        .get(base)?
        .get(method.to_lowercase().as_str())?;
    let content = resolve(spec, op.get("requestBody")?).get("content")?;
    let schema = if data_part {
        resolve(spec, content.pointer("/multipart~1form-data/schema")?)
            .pointer("/properties/data")?
    } else {
        content
            .as_object()?
            .iter()
            .find(|(ct, _)| ct.contains("json"))
            .and_then(|(_, m)| m.get("schema"))?
    };
    Some((spec, schema))
}

/// Shapes a document as the request of `method path` expects it, following the spec's
/// schema: properties it does not list are left out (server stamps, read-only fields), a
/// value that the answer gives in another shape is converted where the meaning is plain (a
/// number where a string is asked, `{id, name}` where an ID is asked, `{value, …}` where the
/// value is asked), and an optional value that fits neither the type nor the enum is left out
/// (the server's default applies). Without a schema the document is returned as it is.
pub fn shape_request(method: &str, path: &str, doc: &Value) -> Value {
    match request_schema(method, path) {
        Some((spec, schema)) => shape(spec, schema, doc, 0).unwrap_or_else(|| doc.clone()),
        None => doc.clone(),
    }
}

fn type_of(s: &Value) -> Option<&str> {
    s.get("type")
        .and_then(Value::as_str)
        .or_else(|| s.get("properties").map(|_| "object"))
}

/// Properties of a schema through allOf; the chosen branch of oneOf/anyOf.
fn flatten<'a>(
    spec: &'a Value,
    s: &'a Value,
    v: &Value,
    depth: usize,
) -> (Map<String, Value>, Vec<String>, Option<&'a Value>) {
    let s = resolve(spec, s);
    let mut props = Map::new();
    let mut required: Vec<String> = s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|r| r.as_str().map(str::to_string))
        .collect();
    if let Some(p) = s.get("properties").and_then(Value::as_object) {
        props.extend(p.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    if depth < 8 {
        for sub in s
            .get("allOf")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (p, r, _) = flatten(spec, sub, v, depth + 1);
            props.extend(p);
            required.extend(r);
        }
        let alts: Vec<&Value> = ["oneOf", "anyOf"]
            .iter()
            .filter_map(|k| s.get(*k).and_then(Value::as_array))
            .flatten()
            .collect();
        if !alts.is_empty() {
            // The branch whose required properties the document has, and which names most
            // of its properties.
            let keys: Vec<&String> = v
                .as_object()
                .map(|m| m.keys().collect())
                .unwrap_or_default();
            let best = alts
                .iter()
                .map(|a| flatten(spec, a, v, depth + 1))
                .enumerate()
                .max_by_key(|(i, (p, r, _))| {
                    let has_required = r.iter().all(|x| keys.contains(&x));
                    // A branch whose enums the document's values satisfy (`protocol: jwtAuth`).
                    let enums_fit = p.iter().all(|(name, ps)| {
                        let ps = resolve(spec, ps);
                        match (ps.get("enum").and_then(Value::as_array), v.get(name)) {
                            (Some(allowed), Some(val)) => {
                                // As `shape` converts: a number matches its string form.
                                let text = match val {
                                    Value::String(t) => Some(t.clone()),
                                    Value::Number(n) => Some(n.to_string()),
                                    _ => None,
                                };
                                allowed.contains(val)
                                    || text.is_some_and(|t| {
                                        allowed.iter().any(|a| a.as_str() == Some(t.as_str()))
                                    })
                            }
                            _ => true,
                        }
                    });
                    let named = keys.iter().filter(|k| p.contains_key(k.as_str())).count();
                    // On a tie, the first branch.
                    (enums_fit, has_required, named, usize::MAX - i)
                })
                .map(|(_, b)| b);
            if let Some((p, r, _)) = best {
                props.extend(p);
                required.extend(r);
            }
        }
    }
    (props, required, Some(s))
}

fn shape(spec: &Value, schema: &Value, v: &Value, depth: usize) -> Option<Value> {
    if depth > 24 {
        return Some(v.clone());
    }
    let s = resolve(spec, schema);
    let has_alts = ["allOf", "oneOf", "anyOf"]
        .iter()
        .any(|k| s.get(*k).is_some());
    let ty = type_of(s).or(if has_alts { Some("object") } else { None });
    let shaped = match (ty, v) {
        (Some("object"), Value::Object(m)) => {
            let (props, required, _) = flatten(spec, s, v, 0);
            if props.is_empty() {
                return Some(v.clone());
            }
            let extra = s.get("additionalProperties").filter(|a| a.is_object());
            let mut out = Map::new();
            for (k, val) in m {
                match props.get(k) {
                    Some(p) => {
                        let p = resolve(spec, p);
                        if p.get("readOnly").and_then(Value::as_bool) == Some(true) {
                            continue;
                        }
                        match shape(spec, p, val, depth + 1) {
                            Some(x) => {
                                out.insert(k.clone(), x);
                            }
                            None if required.contains(k) => {
                                out.insert(k.clone(), val.clone());
                            }
                            None => {}
                        }
                    }
                    None => {
                        if let Some(a) = extra {
                            if let Some(x) = shape(spec, a, val, depth + 1) {
                                out.insert(k.clone(), x);
                            }
                        }
                    }
                }
            }
            Value::Object(out)
        }
        (Some("object"), _) => return None,
        (Some("array"), Value::Array(a)) => {
            let items = s.get("items").cloned().unwrap_or(Value::Null);
            Value::Array(
                a.iter()
                    .filter_map(|x| shape(spec, &items, x, depth + 1))
                    .collect(),
            )
        }
        (Some("array"), _) => return None,
        (Some("string"), Value::String(_)) => v.clone(),
        (Some("string"), Value::Number(n)) => Value::String(n.to_string()),
        (Some("string"), Value::Bool(b)) => Value::String(b.to_string()),
        (Some("string"), Value::Object(m)) => {
            match m
                .get("id")
                .or_else(|| m.get("value"))
                .and_then(Value::as_str)
            {
                Some(s) => Value::String(s.to_string()),
                None => return None,
            }
        }
        (Some("string"), _) => return None,
        (Some("integer") | Some("number"), Value::Number(_)) => v.clone(),
        (Some("integer") | Some("number"), Value::String(t)) => match t.parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => match t.parse::<f64>().ok().and_then(serde_json::Number::from_f64) {
                Some(n) => Value::Number(n),
                None => return None,
            },
        },
        (Some("integer") | Some("number"), _) => return None,
        (Some("boolean"), Value::Bool(_)) => v.clone(),
        (Some("boolean"), Value::String(t)) if t == "true" || t == "false" => {
            Value::Bool(t == "true")
        }
        (Some("boolean"), _) => return None,
        _ => v.clone(),
    };
    if let Some(allowed) = s.get("enum").and_then(Value::as_array) {
        if !allowed.contains(&shaped) && !shaped.is_null() {
            return None;
        }
    }
    Some(shaped)
}

/// The body fields the spec lists for `method path`, and the required ones; None when the
/// operation takes no JSON body (or the spec does not have it).
pub fn request_fields(
    method: &str,
    path: &str,
) -> Option<(&'static [&'static str], &'static [&'static str])> {
    REQUEST_FIELDS
        .iter()
        .find(|(m, p, _, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, props, req)| (*props, *req))
}

/// Whether `method path` takes a JSON Patch array, and the paths it may name (an empty list
/// when the spec does not enumerate them).
pub fn patch_paths(method: &str, path: &str) -> Option<&'static [&'static str]> {
    request_fields(method, path)
        .filter(|(_, required)| *required == ["[]"])
        .map(|(props, _)| props)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_creation_takes_name_and_type_and_no_server_fields() {
        let (props, required) = request_fields("POST", "/api/v1/spaces").unwrap();
        assert!(props.contains(&"name") && props.contains(&"type"));
        assert!(!props.contains(&"id") && !props.contains(&"createdAt"));
        assert!(required.contains(&"name") && required.contains(&"type"));
    }

    #[test]
    fn patch_bodies_name_their_paths() {
        let paths = patch_paths("PATCH", "/api/core/auth-settings").unwrap();
        assert!(
            paths.contains(&"/userSessionInactivityTimeoutMinutes"),
            "{paths:?}"
        );
        assert!(patch_paths("POST", "/api/v1/spaces").is_none());
    }

    #[test]
    fn requests_are_shaped_as_the_spec_asks() {
        use serde_json::json;
        // A data connection as GET answers it: qLogOn is a number there, a string on create.
        let dc = json!({"qName": "n", "qType": "t", "qConnectStatement": "c", "datasourceID": "d",
            "qLogOn": 0, "created": "2026-01-01", "links": {"self": {}}});
        let body = shape_request("POST", "/api/v1/data-connections", &dc);
        assert_eq!(body["qLogOn"], json!("0"));
        assert_eq!(
            body["qConnectStatement"],
            json!("c"),
            "the branch with qConnectStatement: {body}"
        );
        assert!(
            body.get("created").is_none() && body.get("links").is_none(),
            "{body}"
        );
        // ODAG links: the answer's {id, name} becomes the ID the request asks for.
        let odag = json!({"name": "o", "selectionApp": {"id": "a1", "name": "A"}, "templateApp": {"id": "t1", "name": "T"}});
        let body = shape_request("POST", "/api/analytics/odag-links", &odag);
        assert_eq!(body["templateApp"], json!("t1"));
        // The branch whose enum fits: a JWT identity provider keeps its issuer and keys.
        let idp = json!({"protocol": "jwtAuth", "provider": "external", "options": {"issuer": "i", "staticKeys": [{"kid": "k", "pem": "p"}]}});
        let body = shape_request("POST", "/api/v1/identity-providers", &idp);
        assert_eq!(body["options"]["issuer"], json!("i"), "{body}");
        // A user can only be created invited: another status is left to the default.
        let user = json!({"subject": "s", "status": "active", "name": "N"});
        let body = shape_request("POST", "/api/v1/users", &user);
        assert!(body.get("status").is_none(), "{body}");
        assert_eq!(body["subject"], "s");
    }

    #[test]
    fn data_connections_may_keep_their_id() {
        let (props, _) = request_fields("POST", "/api/v1/data-connections").unwrap();
        assert!(props.contains(&"qID"), "{props:?}");
        assert!(props.contains(&"qName") && props.contains(&"qConnectStatement"));
    }
}
