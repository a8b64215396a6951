//! The rate-limit tier of every operation, from Qlik's specs (`x-qlik-tier`, flattened into
//! `specs/qlik/endpoints.tsv`, which a test holds against the specs themselves). A request is
//! matched to its operation by method and path template.

use std::collections::HashMap;
use std::sync::OnceLock;

const ENDPOINTS_TSV: &str = include_str!("../../../specs/qlik/endpoints.tsv");

/// The budget a request draws from: tier "1" (1000/min), "2" (100/min), or a "special"
/// operation with a limit of its own (then `key` names the operation).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tier {
    pub key: String,
    pub per_minute: u32,
}

/// An operation of the specs.
#[derive(Debug, Clone)]
struct Operation {
    segments: Vec<Option<String>>,
    tier: Tier,
}

pub struct Tiers {
    by_method: HashMap<String, Vec<Operation>>,
}

/// Requests to paths no spec has (none should exist) draw from tier 1, the common budget.
fn default_tier() -> Tier {
    Tier {
        key: "1".into(),
        per_minute: 1000,
    }
}

impl Tiers {
    pub fn get() -> &'static Tiers {
        static TIERS: OnceLock<Tiers> = OnceLock::new();
        TIERS.get_or_init(|| Tiers::parse(ENDPOINTS_TSV))
    }

    fn parse(tsv: &str) -> Tiers {
        let mut by_method: HashMap<String, Vec<Operation>> = HashMap::new();
        for line in tsv.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 5 {
                continue;
            }
            let (method, path, tier, limit) = (cols[1], cols[2], cols[3], cols[4]);
            let per_minute = limit.parse().unwrap_or(100);
            let key = if tier == "special" {
                format!("special {method} {path}")
            } else {
                tier.to_string()
            };
            let segments = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        None
                    } else {
                        Some(s.to_string())
                    }
                })
                .collect();
            by_method
                .entry(method.to_string())
                .or_default()
                .push(Operation {
                    segments,
                    tier: Tier { key, per_minute },
                });
        }
        Tiers { by_method }
    }

    /// The tier of `method path` (a concrete path such as `/api/v1/apps/abc/export`). Literal
    /// segments win over parameters (`/api/v1/users/me` over `/api/v1/users/{userId}`).
    pub fn of(&self, method: &str, path: &str) -> Tier {
        let segs: Vec<&str> = path.split('/').collect();
        let Some(ops) = self.by_method.get(&method.to_ascii_uppercase()) else {
            return default_tier();
        };
        ops.iter()
            .filter(|op| op.segments.len() == segs.len())
            .filter_map(|op| {
                let mut literal = 0;
                for (t, s) in op.segments.iter().zip(&segs) {
                    match t {
                        Some(lit) if lit == s => literal += 1,
                        Some(_) => return None,
                        None => {}
                    }
                }
                Some((literal, op))
            })
            .max_by_key(|(literal, _)| *literal)
            .map_or_else(default_tier, |(_, op)| op.tier.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_and_import_are_tier_two_reads_tier_one() {
        let t = Tiers::get();
        assert_eq!(t.of("POST", "/api/v1/apps/0b1c/export").per_minute, 100);
        assert_eq!(t.of("POST", "/api/v1/apps/import").per_minute, 100);
        assert_eq!(t.of("GET", "/api/v1/items").per_minute, 1000);
        assert_eq!(t.of("GET", "/api/v1/temp-contents/abc").key, "1");
        assert_eq!(t.of("get", "/api/v1/spaces/abc/assignments").key, "1");
    }

    #[test]
    fn special_operations_have_budgets_of_their_own() {
        let t = Tiers::get();
        let audits = t.of("GET", "/api/v1/audits");
        assert!(audits.key.starts_with("special"), "{audits:?}");
        assert_ne!(audits.key, t.of("POST", "/api/v1/reloads").key);
    }

    #[test]
    fn literal_segments_win_over_parameters() {
        let t = Tiers::get();
        // /users/actions/filter is special (200/min); /users/{userId} would be tier 1.
        assert_eq!(t.of("POST", "/api/v1/users/actions/filter").per_minute, 200);
    }

    /// The table must say what the specs say: every operation's x-qlik-tier.
    #[test]
    fn table_matches_the_specs() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../specs/qlik/rest");
        let mut checked = 0;
        for entry in std::fs::read_dir(&dir).expect("specs/qlik/rest") {
            let path = entry.expect("entry").path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let spec: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
            for (p, item) in spec["paths"].as_object().into_iter().flatten() {
                for (m, op) in item.as_object().into_iter().flatten() {
                    let Some(tier) = op.get("x-qlik-tier") else {
                        continue;
                    };
                    let limit = tier["limit"].as_u64().unwrap_or(0) as u32;
                    let concrete = p
                        .split('/')
                        .map(|s| if s.starts_with('{') { "x" } else { s })
                        .collect::<Vec<_>>()
                        .join("/");
                    let found = Tiers::get().of(m, &concrete);
                    // A literal sibling may shadow a parameter ("x" never equals one), so compare limits.
                    assert_eq!(found.per_minute, limit, "{} {m} {p}", path.display());
                    checked += 1;
                }
            }
        }
        assert!(checked > 600, "checked {checked}");
    }
}
