//! What a person gives a restore: a map between tenants (`--map`) and the secrets a backup
//! never stores (`--secrets`). Both are TOML or JSON files. Secret values stay in
//! `SecretString` and only ever reach a request body.
//!
//! ```toml
//! # --map: old user (ID, subject or e-mail) / group / space (ID or name) → the target's
//! [users]
//! "auth0|jane" = "auth0|jane.doe"
//! [groups]
//! "Finance" = "Finance EU"
//! [spaces]
//! "Finance" = "Finance (restored)"
//!
//! # --secrets: kind → item (ID or name) → redacted field (as the manifest names it) → value
//! [data-connections."Sales DWH"]
//! "/qPassword" = "…"
//! [webhooks."Ops alerts"]
//! secret = "…"
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use secrecy::SecretString;
use serde::Deserialize;

use crate::error::RestoreError;

fn parse<T: for<'de> Deserialize<'de>>(path: &Path, text: &str) -> Result<T, String> {
    let json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
        || text.trim_start().starts_with('{');
    if json {
        serde_json::from_str(text).map_err(|e| {
            let what = match e.classify() {
                serde_json::error::Category::Data => "a value has the wrong type or place",
                _ => "malformed",
            };
            format!(
                "not valid JSON at line {} column {}: {what}",
                e.line(),
                e.column()
            )
        })
    } else {
        // Only the position and the parser's message: TOML errors otherwise quote the line,
        // which in a secrets file holds a secret.
        toml::from_str(text).map_err(|e| {
            let line = e
                .span()
                .map(|s| text[..s.start.min(text.len())].lines().count().max(1))
                .unwrap_or(1);
            // Values the parser quotes (`…`) are cut out.
            let message: String = e
                .message()
                .split('`')
                .enumerate()
                .map(|(i, part)| if i % 2 == 1 { "…" } else { part })
                .collect();
            format!("not valid TOML at line {line}: {message}")
        })
    }
}

/// Users, groups and spaces of the snapshot's tenant → the target tenant's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantMap {
    #[serde(default)]
    pub users: BTreeMap<String, String>,
    #[serde(default)]
    pub groups: BTreeMap<String, String>,
    #[serde(default)]
    pub spaces: BTreeMap<String, String>,
}

impl TenantMap {
    pub fn from_file(path: &Path) -> Result<TenantMap, RestoreError> {
        let err = |detail: String| RestoreError::Map {
            file: path.display().to_string(),
            detail,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        parse(path, &text).map_err(|e| {
            err(format!(
                "{e}; expected tables [users], [groups], [spaces] of \"old\" = \"new\""
            ))
        })
    }
}

/// Secret values by kind, item (ID or name) and field.
#[derive(Default)]
pub struct Secrets {
    values: BTreeMap<String, BTreeMap<String, BTreeMap<String, SecretString>>>,
}

impl std::fmt::Debug for Secrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n: usize = self
            .values
            .values()
            .flat_map(|items| items.values())
            .map(BTreeMap::len)
            .sum();
        write!(f, "Secrets({n} values)")
    }
}

fn field_key(field: &str) -> String {
    if field.starts_with('/') {
        field.to_string()
    } else {
        format!("/{}", field.replace('.', "/"))
    }
}

impl Secrets {
    pub fn from_file(path: &Path) -> Result<Secrets, RestoreError> {
        let err = |detail: String| RestoreError::Secrets {
            file: path.display().to_string(),
            detail,
        };
        let text =
            std::fs::read_to_string(path).map_err(|e| err(format!("cannot read it: {e}")))?;
        Self::from_text(path, &text)
    }

    /// Secrets given as text (the content of `QCB_SECRETS`, say), TOML or JSON; `origin`
    /// names where it came from in errors.
    pub fn from_text(origin: &Path, text: &str) -> Result<Secrets, RestoreError> {
        let path = origin;
        let err = |detail: String| RestoreError::Secrets {
            file: path.display().to_string(),
            detail,
        };
        // Parsed as plain strings, then moved into SecretString at once; a parse error
        // names the position, never the value.
        let raw: BTreeMap<String, BTreeMap<String, BTreeMap<String, String>>> = parse(path, text)
            .map_err(|e| {
            err(format!(
                "{e}; expected [<kind>.\"<item ID or name>\"] tables of \"<field>\" = \"<value>\""
            ))
        })?;
        let mut values = BTreeMap::new();
        for (kind, items) in raw {
            if qcb_catalog::kind(&kind).is_none() {
                return Err(err(format!(
                    "unknown component kind '{kind}'{} (see `qcb kinds` for the names)",
                    qcb_catalog::did_you_mean(&kind)
                )));
            }
            let items = items
                .into_iter()
                .map(|(item, fields)| {
                    let fields = fields
                        .into_iter()
                        .map(|(f, v)| (field_key(&f), SecretString::from(v)))
                        .collect();
                    (item, fields)
                })
                .collect();
            values.insert(kind, items);
        }
        Ok(Secrets { values })
    }

    /// The value for `field` (a JSON pointer) of the item with this ID or name.
    pub fn get(&self, kind: &str, id: &str, name: &str, field: &str) -> Option<&SecretString> {
        let items = self.values.get(kind)?;
        let field = field_key(field);
        items
            .get(id)
            .and_then(|f| f.get(&field))
            .or_else(|| items.get(name).and_then(|f| f.get(&field)))
    }

    /// Every field supplied for the item with this ID or name (pointer, value).
    pub fn fields(&self, kind: &str, id: &str, name: &str) -> Vec<(&str, &SecretString)> {
        let Some(items) = self.values.get(kind) else {
            return vec![];
        };
        let mut out: Vec<(&str, &SecretString)> = Vec::new();
        for key in [id, name] {
            for (f, v) in items.get(key).into_iter().flatten() {
                if !out.iter().any(|(g, _)| *g == f.as_str()) {
                    out.push((f.as_str(), v));
                }
            }
        }
        out
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn secrets_are_found_by_id_or_name_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(
            &p,
            "[data-connections.\"Sales DWH\"]\n\"/qPassword\" = \"hunter2\"\n[webhooks.abc]\nsecret = \"s3\"\n",
        )
        .unwrap();
        let s = Secrets::from_file(&p).unwrap();
        let v = s
            .get("data-connections", "x", "Sales DWH", "/qPassword")
            .unwrap();
        assert_eq!(v.expose_secret(), "hunter2");
        assert!(s.get("webhooks", "abc", "", "/secret").is_some());
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn bad_files_say_which_file_and_what_is_expected() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.toml");
        std::fs::write(&p, "[nonsense.\"x\"]\nf = \"topsecretvalue\"\n").unwrap();
        let e = Secrets::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("unknown component kind 'nonsense'"), "{e}");
        std::fs::write(&p, "this is = = not toml topsecretvalue").unwrap();
        let e = Secrets::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("s.toml") && !e.contains("topsecretvalue"), "{e}");
        let m = dir.path().join("m.json");
        std::fs::write(&m, "{\"people\": {}}").unwrap();
        let e = TenantMap::from_file(&m).unwrap_err().to_string();
        assert!(e.contains("m.json") && e.contains("[users]"), "{e}");
    }
}
