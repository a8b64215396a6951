//! Old → new IDs, and rewriting every reference in a document. A restored app, space or
//! connection usually gets a new ID; every document that names it (a task's `appId`, a
//! sharing task's template, an ID inside an automation's blocks or a URL) is rewritten before
//! it is sent. IDs are found wherever they occur in a string, not only as whole values: GUIDs
//! and 24-hex IDs by their shape, and IDs of other shapes (Qlik's user and tenant IDs are
//! 32-character base-64-like strings) when a word of 16 or more such characters is one the map
//! knows.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

fn id_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    P.get_or_init(|| {
        Regex::new(r"(?i)\b(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{24})\b")
            .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

/// A word that may be an ID of another shape: looked up in the map, never guessed.
fn word_pattern() -> &'static Regex {
    static P: OnceLock<Regex> = OnceLock::new();
    P.get_or_init(|| {
        Regex::new(r"[A-Za-z0-9_-]{16,}")
            .unwrap_or_else(|_| unreachable!("the pattern is a constant"))
    })
}

/// Old → new IDs, also kept per kind for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IdMap {
    #[serde(skip)]
    all: HashMap<String, String>,
    /// kind → old → new, only where they differ.
    pub by_kind: BTreeMap<String, BTreeMap<String, String>>,
}

impl IdMap {
    pub fn insert(&mut self, kind: &str, old: &str, new: &str) {
        if old.is_empty() || new.is_empty() {
            return;
        }
        self.all.insert(old.to_string(), new.to_string());
        if old != new {
            self.by_kind
                .entry(kind.to_string())
                .or_default()
                .insert(old.to_string(), new.to_string());
        }
    }

    pub fn get(&self, old: &str) -> Option<&str> {
        self.all.get(old).map(String::as_str)
    }

    pub fn contains(&self, old: &str) -> bool {
        self.all.contains_key(old)
    }

    /// A string with every mapped ID replaced.
    pub fn rewrite_str(&self, s: &str) -> Option<String> {
        if let Some(new) = self.all.get(s) {
            return Some(new.clone());
        }
        // One pass over the words, so that a replacement is never replaced again (a map
        // may send A to B and B to C): a word the map knows is replaced whole, else the
        // GUIDs and 24-hex IDs inside it are.
        let mut changed = false;
        let out = word_pattern().replace_all(s, |c: &regex::Captures| {
            let word = &c[0];
            if let Some(new) = self.all.get(word) {
                changed = true;
                return new.clone();
            }
            id_pattern()
                .replace_all(word, |c: &regex::Captures| {
                    let m = &c[0];
                    match self.all.get(m) {
                        Some(new) => {
                            changed = true;
                            new.clone()
                        }
                        None => m.to_string(),
                    }
                })
                .into_owned()
        });
        changed.then(|| out.into_owned())
    }

    /// Rewrites every string (and object key) of `v` in place.
    pub fn rewrite(&self, v: &mut Value) {
        match v {
            Value::String(s) => {
                if let Some(new) = self.rewrite_str(s) {
                    *s = new;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| self.rewrite(x)),
            Value::Object(m) => {
                let keys: Vec<String> = m.keys().cloned().collect();
                for k in keys {
                    if let Some(mut x) = m.remove(&k) {
                        self.rewrite(&mut x);
                        let k = self.rewrite_str(&k).unwrap_or(k);
                        m.insert(k, x);
                    }
                }
            }
            _ => {}
        }
    }
}

/// Every ID-looking string in a document (whole values and IDs inside strings).
pub fn ids_in(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            out.push(s.clone());
            for pattern in [id_pattern(), word_pattern()] {
                for m in pattern.find_iter(s) {
                    if m.as_str() != s {
                        out.push(m.as_str().to_string());
                    }
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| ids_in(x, out)),
        Value::Object(m) => m.values().for_each(|x| ids_in(x, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn ids_are_rewritten_as_values_inside_strings_and_as_keys() {
        let mut m = IdMap::default();
        m.insert(
            "apps",
            "0f47b8d1-864f-96b0-301b-785500000000",
            "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        );
        m.insert(
            "spaces",
            "0f47b8d1864f96b0301b7855",
            "111111111111111111111111",
        );
        let mut doc = json!({
            "appId": "0f47b8d1-864f-96b0-301b-785500000000",
            "url": "/sense/app/0f47b8d1-864f-96b0-301b-785500000000/sheet/x",
            "blocks": [{"inputs": {"space": "0f47b8d1864f96b0301b7855"}}],
            "0f47b8d1864f96b0301b7855": true,
            "other": "0f47b8d1864f96b0301b7856",
        });
        m.rewrite(&mut doc);
        assert_eq!(doc["appId"], "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");
        assert_eq!(
            doc["url"],
            "/sense/app/aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee/sheet/x"
        );
        assert_eq!(
            doc["blocks"][0]["inputs"]["space"],
            "111111111111111111111111"
        );
        assert_eq!(doc["111111111111111111111111"], true);
        assert_eq!(
            doc["other"], "0f47b8d1864f96b0301b7856",
            "an unmapped ID stays"
        );
        assert_eq!(m.by_kind["apps"].len(), 1);
    }

    #[test]
    fn ids_of_other_shapes_are_rewritten_inside_strings_when_the_map_knows_them() {
        let mut m = IdMap::default();
        // The shape of the user IDs in Qlik's own examples.
        m.insert(
            "users",
            "sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8",
            "TiQ8GPVr2mN4bV6cX8zL1kJ3hG5fD7sA",
        );
        let mut doc = json!({
            "filter": "ownerId eq \"sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8\"",
            "url": "/api/v1/users/sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8?x=1",
            "words": "a_sentence_long_enough_to_look_like_an_id stays",
            "near": "sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8X",
        });
        m.rewrite(&mut doc);
        assert_eq!(
            doc["filter"],
            "ownerId eq \"TiQ8GPVr2mN4bV6cX8zL1kJ3hG5fD7sA\""
        );
        assert_eq!(
            doc["url"],
            "/api/v1/users/TiQ8GPVr2mN4bV6cX8zL1kJ3hG5fD7sA?x=1"
        );
        assert_eq!(
            doc["words"],
            "a_sentence_long_enough_to_look_like_an_id stays"
        );
        assert_eq!(
            doc["near"], "sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8X",
            "a longer word is another word"
        );
        let mut found = Vec::new();
        ids_in(
            &json!({"f": "ownerId eq \"sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8\""}),
            &mut found,
        );
        assert!(found.contains(&"sWYAHxZx7pq1L9kJ3nB2vC4dE5fG6hI8".to_string()));
    }

    #[test]
    fn a_replacement_is_not_replaced_again() {
        let (a, b, c) = ("a".repeat(24), "b".repeat(24), "c".repeat(24));
        let mut m = IdMap::default();
        m.insert("k", &a, &b);
        m.insert("k", &b, &c);
        let mut doc = json!({"t": format!("x/{a}/{b}")});
        m.rewrite(&mut doc);
        assert_eq!(doc["t"], format!("x/{b}/{c}"));
    }

    proptest! {
        /// Rewriting with a map and then with its inverse gives the document back, whatever
        /// mix of IDs and text it holds.
        #[test]
        fn rewriting_is_reversible(
            olds in proptest::collection::hash_set("[0-9a-f]{24}", 1..6),
            text in "[ a-z/:._-]{0,20}",
        ) {
            let olds: Vec<String> = olds.into_iter().collect();
            // A bijection on hex digits, so the map and its inverse are both one-to-one.
            let shift = |s: &str| -> String {
                s.chars()
                    .map(|c| {
                        let v = c.to_digit(16).unwrap_or(0);
                        std::char::from_digit((v + 1) % 16, 16).unwrap_or('0')
                    })
                    .collect()
            };
            let mut fwd = IdMap::default();
            let mut back = IdMap::default();
            for o in &olds {
                let n = shift(o);
                fwd.insert("k", o, &n);
                back.insert("k", &n, o);
            }
            let original = json!({"a": olds.clone(), "t": format!("{text}{}{text}", olds[0]), "n": 1});
            let mut doc = original.clone();
            fwd.rewrite(&mut doc);
            back.rewrite(&mut doc);
            prop_assert_eq!(doc, original);
        }
    }
}
