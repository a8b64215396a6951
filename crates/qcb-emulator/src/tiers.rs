//! Rate-limit tiers of every operation, read from Qlik's specs (`x-qlik-tier`, flattened into
//! `specs/qlik/endpoints.tsv`). The emulator throttles by these, never by numbers of its own.

use std::collections::HashMap;
use std::sync::OnceLock;

const ENDPOINTS_TSV: &str = include_str!("../../../specs/qlik/endpoints.tsv");

/// A rate-limit tier as the specs name it: "1", "2" or "special" (a budget of its own).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub name: String,
    pub per_minute: u32,
}

/// One operation of the specs.
#[derive(Debug, Clone)]
pub struct SpecOperation {
    pub spec: String,
    pub method: String,
    pub path: String,
    pub tier: Tier,
    pub query_params: Vec<String>,
}

/// Every operation in the specs, keyed by method and a path shape in which parameter names are
/// erased (`/api/v1/spaces/{}`), because routes and specs name parameters differently.
pub struct SpecOperations {
    by_shape: HashMap<(String, String), SpecOperation>,
}

pub fn path_shape(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') && seg.ends_with('}') {
                "{}"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl SpecOperations {
    pub fn get() -> &'static SpecOperations {
        static OPS: OnceLock<SpecOperations> = OnceLock::new();
        OPS.get_or_init(|| SpecOperations::parse(ENDPOINTS_TSV))
    }

    fn parse(tsv: &str) -> SpecOperations {
        let mut by_shape = HashMap::new();
        for line in tsv.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 6 {
                continue;
            }
            let op = SpecOperation {
                spec: cols[0].to_string(),
                method: cols[1].to_string(),
                path: cols[2].to_string(),
                tier: Tier {
                    name: cols[3].to_string(),
                    per_minute: cols[4].parse().unwrap_or(100),
                },
                query_params: cols[5]
                    .split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect(),
            };
            by_shape.insert((op.method.clone(), path_shape(&op.path)), op);
        }
        SpecOperations { by_shape }
    }

    pub fn find(&self, method: &str, path_template: &str) -> Option<&SpecOperation> {
        self.by_shape
            .get(&(method.to_ascii_uppercase(), path_shape(path_template)))
    }

    pub fn all(&self) -> impl Iterator<Item = &SpecOperation> {
        self.by_shape.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_tier_two_and_get_space_tier_one() {
        let ops = SpecOperations::get();
        let export = ops
            .find("POST", "/api/v1/apps/{id}/export")
            .expect("export in specs");
        assert_eq!(
            export.tier,
            Tier {
                name: "2".into(),
                per_minute: 100
            }
        );
        let space = ops
            .find("GET", "/api/v1/spaces/{x}")
            .expect("get space in specs");
        assert_eq!(space.tier.per_minute, 1000);
        assert!(ops.all().count() >= 680);
    }
}
