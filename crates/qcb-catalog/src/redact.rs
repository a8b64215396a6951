//! Replaces secrets with `{"$qcb_redacted": "<field>"}` before a document is stored, and says
//! which fields it replaced, so restore knows exactly what must be supplied again.

use serde_json::{json, Value};

use crate::{ComponentKind, Secret};

/// The marker that stands in for a secret in a stored document.
pub const MARKER_KEY: &str = "$qcb_redacted";

/// Whether a value is a redaction marker.
pub fn is_marker(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.contains_key(MARKER_KEY))
}

/// Applies a kind's secret rules and the free-text scanner to `doc`. Returns the JSON
/// pointers of every replaced value, in document order.
pub fn redact(kind: &ComponentKind, doc: &mut Value) -> Vec<String> {
    let mut redacted = Vec::new();
    for s in kind.secrets {
        redact_rule(s, doc, &mut redacted);
    }
    for field in kind.scan {
        crate::scan::rewrite_at(doc, field, &mut redacted);
    }
    redacted.sort();
    redacted.dedup();
    redacted
}

fn redact_rule(rule: &Secret, doc: &mut Value, out: &mut Vec<String>) {
    let parts: Vec<&str> = rule.pointer.split('/').skip(1).collect();
    walk(doc, &parts, String::new(), rule, out);
}

fn unescape(token: &str) -> String {
    token.replace("~1", "/").replace("~0", "~")
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

fn walk(v: &mut Value, parts: &[&str], at: String, rule: &Secret, out: &mut Vec<String>) {
    let Some((head, rest)) = parts.split_first() else {
        if v.is_null() || is_marker(v) || v.as_str().is_some_and(str::is_empty) {
            return; // nothing secret here
        }
        let field = at
            .rsplit('/')
            .find(|t| t.parse::<usize>().is_err())
            .unwrap_or_default()
            .to_string();
        *v = json!({ MARKER_KEY: field });
        out.push(at);
        return;
    };
    // `when` applies to the array member (or object) that holds the last field.
    if rest.is_empty() {
        if let Some(when) = rule.when {
            let sibling = v
                .get(when.sibling)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_lowercase();
            if !when
                .contains
                .iter()
                .any(|c| sibling.contains(&c.to_lowercase()))
            {
                return;
            }
        }
    }
    if *head == "*" {
        match v {
            Value::Array(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(item, rest, format!("{at}/{i}"), rule, out);
                }
            }
            Value::Object(map) => {
                for (k, item) in map.iter_mut() {
                    walk(item, rest, format!("{at}/{}", escape(k)), rule, out);
                }
            }
            _ => {}
        }
        return;
    }
    let key = unescape(head);
    let child = match v {
        Value::Object(map) => map.get_mut(&key),
        Value::Array(items) => key.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
        _ => None,
    };
    if let Some(child) = child {
        walk(child, rest, format!("{at}/{}", escape(&key)), rule, out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{secret, ComponentKind, Secret, Source, When};

    fn kind(secrets: &'static [Secret], scan: &'static [&'static str]) -> ComponentKind {
        ComponentKind {
            secrets,
            scan,
            ..ComponentKind::new("t", "t", Source::Singleton { path: "/x" })
        }
    }

    #[test]
    fn replaces_fields_and_says_which() {
        const S: &[Secret] = &[
            secret("/secret"),
            secret("/options/clientSecret"),
            secret("/headers/*"),
        ];
        let mut doc = json!({"secret": "s3cr3t", "options": {"clientSecret": "x", "clientId": "id"}, "headers": {"Authorization": "Bearer abc", "X-A": "1"}, "name": "keep"});
        let r = redact(&kind(S, &[]), &mut doc);
        assert_eq!(
            r,
            vec![
                "/headers/Authorization",
                "/headers/X-A",
                "/options/clientSecret",
                "/secret"
            ]
        );
        assert_eq!(doc["secret"], json!({"$qcb_redacted": "secret"}));
        assert_eq!(doc["options"]["clientId"], "id");
        assert_eq!(doc["name"], "keep");
        // Twice is the same as once.
        assert!(redact(&kind(S, &[]), &mut doc).is_empty());
    }

    #[test]
    fn conditional_rules_touch_only_matching_members() {
        const S: &[Secret] = &[Secret {
            pointer: "/params/*/value",
            when: Some(When {
                sibling: "fieldType",
                contains: &["password"],
            }),
        }];
        let mut doc = json!({"params": [{"name": "user", "fieldType": "text", "value": "svc"}, {"name": "pwd", "fieldType": "password", "value": "p"}]});
        let r = redact(&kind(S, &[]), &mut doc);
        assert_eq!(r, vec!["/params/1/value"]);
        assert_eq!(doc["params"][0]["value"], "svc");
        assert_eq!(doc["params"][1]["value"], json!({"$qcb_redacted": "value"}));
    }

    #[test]
    fn missing_and_empty_fields_are_left_alone() {
        const S: &[Secret] = &[secret("/a/b"), secret("/c")];
        let mut doc = json!({"c": ""});
        assert!(redact(&kind(S, &[]), &mut doc).is_empty());
        assert_eq!(doc, json!({"c": ""}));
    }
}
