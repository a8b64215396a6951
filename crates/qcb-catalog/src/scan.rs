//! Finds credentials inside free text — a `pwd=` in a connection string, a password in a load
//! script, a bearer token pasted into an automation block — and rewrites them out of stored
//! documents. Each finding names where it was and what it looked like, never the secret.

use std::sync::OnceLock;

use regex::Regex;
use serde::Serialize;
use serde_json::Value;

/// Stands in for a secret cut out of free text.
pub const TEXT_MARKER: &str = "{qcb:redacted}";

/// A credential found in free text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Finding {
    /// JSON pointer of the field (or "script" for an app's load script).
    pub at: String,
    /// What it looked like: `pwd=`, `password=`, `bearer token`, `authorization header`, …
    pub pattern: String,
    /// Line number within the text, from 1.
    pub line: usize,
}

fn patterns() -> &'static [(Regex, &'static str)] {
    static P: OnceLock<Vec<(Regex, &'static str)>> = OnceLock::new();
    P.get_or_init(|| {
        let table: &[(&str, &str)] = &[
            // key=value pairs in connection strings and scripts; the value runs to ; ) " ' or space.
            (r#"(?i)\b(pwd|password|passwd|secret|client_secret|clientsecret|api_key|apikey|access_key|secret_key|token|sas)\s*=\s*([^;)"'\s]+)"#, "key=value"),
            (r#"(?i)\b(pwd|password|passwd)\s+is\s+([^;)"'\s]+)"#, "password is"),
            (r"(?i)\bbearer\s+([A-Za-z0-9\-._~+/]{8,}=*)", "bearer token"),
            (r#"(?i)"(password|secret|apiKey|api_key|token|clientSecret)"\s*:\s*"([^"]+)""#, "JSON secret"),
        ];
        table.iter().filter_map(|(re, name)| Regex::new(re).ok().map(|r| (r, *name))).collect()
    })
}

/// Credentials in `text`; `at` names the field for the findings.
pub fn find(text: &str, at: &str) -> Vec<Finding> {
    let mut out = Vec::new();
    for (re, name) in patterns() {
        for caps in re.captures_iter(text) {
            let Some(m) = caps.get(caps.len() - 1) else {
                continue;
            };
            if m.as_str() == TEXT_MARKER || m.as_str().starts_with('$') || m.as_str().is_empty() {
                continue; // already redacted, or a script variable such as $(vPassword)
            }
            let line = text[..m.start()].matches('\n').count() + 1;
            let label = match *name {
                "key=value" => {
                    format!("{}=", caps.get(1).map_or("", |k| k.as_str()).to_lowercase())
                }
                other => other.to_string(),
            };
            out.push(Finding {
                at: at.to_string(),
                pattern: label,
                line,
            });
        }
    }
    out.sort_by(|a, b| (a.line, &a.pattern).cmp(&(b.line, &b.pattern)));
    out.dedup();
    out
}

/// `text` with every credential replaced by `TEXT_MARKER`.
pub fn rewrite(text: &str) -> String {
    let mut out = text.to_string();
    for (re, _) in patterns() {
        out = re
            .replace_all(&out, |caps: &regex::Captures<'_>| {
                let whole = caps.get(0).map_or("", |m| m.as_str());
                let Some(secret) = caps.get(caps.len() - 1) else {
                    return whole.to_string();
                };
                if secret.as_str().starts_with('$') {
                    return whole.to_string();
                }
                let start = secret.start() - caps.get(0).map_or(0, |m| m.start());
                format!(
                    "{}{TEXT_MARKER}{}",
                    &whole[..start],
                    &whole[start + secret.len()..]
                )
            })
            .into_owned();
    }
    out
}

/// Rewrites every string under `pointer` (`*` matches any member; the empty pointer is the
/// whole document) and records the pointers of strings that changed.
pub fn rewrite_at(doc: &mut Value, pointer: &str, changed: &mut Vec<String>) {
    let parts: Vec<&str> = if pointer.is_empty() {
        vec![]
    } else {
        pointer.split('/').skip(1).collect()
    };
    descend(doc, &parts, String::new(), changed);
}

fn descend(v: &mut Value, parts: &[&str], at: String, changed: &mut Vec<String>) {
    match parts.split_first() {
        None => rewrite_all(v, at, changed),
        Some((&"*", rest)) => match v {
            Value::Array(items) => items
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| descend(x, rest, format!("{at}/{i}"), changed)),
            Value::Object(map) => map
                .iter_mut()
                .for_each(|(k, x)| descend(x, rest, format!("{at}/{k}"), changed)),
            _ => {}
        },
        Some((head, rest)) => {
            let child = match v {
                Value::Object(map) => map.get_mut(*head),
                Value::Array(items) => head.parse::<usize>().ok().and_then(|i| items.get_mut(i)),
                _ => None,
            };
            if let Some(c) = child {
                descend(c, rest, format!("{at}/{head}"), changed);
            }
        }
    }
}

/// Every string below `v`.
fn rewrite_all(v: &mut Value, at: String, changed: &mut Vec<String>) {
    match v {
        Value::String(s) => {
            let new = rewrite(s);
            if new != *s {
                *s = new;
                changed.push(at);
            }
        }
        Value::Array(items) => items
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| rewrite_all(x, format!("{at}/{i}"), changed)),
        Value::Object(map) => map
            .iter_mut()
            .for_each(|(k, x)| rewrite_all(x, format!("{at}/{k}"), changed)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_strings_lose_their_passwords_and_keep_the_rest() {
        let cs = "CUSTOM CONNECT TO \"provider=QvOdbcConnectorPackage.exe;driver=postgres;host=db;port=5432;db=sales;pwd=S3cr3t!x;UID=svc;\"";
        let out = rewrite(cs);
        assert!(!out.contains("S3cr3t"), "{out}");
        assert!(
            out.contains("pwd={qcb:redacted};")
                && out.contains("host=db")
                && out.contains("UID=svc"),
            "{out}"
        );
        assert_eq!(find(cs, "/qConnectStatement")[0].pattern, "pwd=");
    }

    #[test]
    fn scripts_and_blocks() {
        let script = "LIB CONNECT TO 'x';\nODBC CONNECT TO [Legacy] (XUserId is admin, pwd=QCBSECRET-1);\nLET v = 'Password=$(vPwd)';";
        let f = find(script, "script");
        assert_eq!(f.len(), 1, "{f:?}");
        assert_eq!((f[0].line, f[0].pattern.as_str()), (2, "pwd="));
        assert!(!rewrite(script).contains("QCBSECRET"));
        assert!(
            rewrite("Authorization: Bearer eyJhbGciOi.abc-123_x").contains("Bearer {qcb:redacted}")
        );
        assert!(!rewrite(r#"{"apiKey": "k-123456"}"#).contains("k-123456"));
    }

    #[test]
    fn findings_never_contain_the_secret() {
        let f = find("password=hunter2", "/x");
        assert!(!format!("{f:?}").contains("hunter2"));
    }
}
