//! Apps with a long tail of export sizes: for `large`, median ~300 KB, 95th percentile ~5 MB,
//! a handful up to 200 MB, about 1.5 GB in all. Only sizes and seeds are held; the bytes are
//! generated when downloaded.

use rand::Rng;
use serde_json::json;

use super::Seeder;
use crate::apps::{insert_app, NewApp};
use crate::config::Profile;
use crate::state::AppContent;

const TOPICS: &[&str] = &[
    "Sales Overview",
    "Margin Analysis",
    "Inventory",
    "Customer Churn",
    "Headcount",
    "Budget vs Actual",
    "Pipeline",
    "Logistics KPIs",
    "Procurement Spend",
    "Web Analytics",
    "Service Desk",
    "Cash Flow",
];

/// Export size of app `i`. A log-linear quantile curve through anchor points (median ~300 KB,
/// 95th percentile ~4.5 MB, a thin tail to 16 MB), plus a handful of very large apps in the
/// large profile: about 1.5–1.8 GB for 1842 apps. A log-normal cannot meet the median, the
/// 95th percentile and the total at once, hence the anchors.
pub fn export_size(rng: &mut impl Rng, profile: Profile, i: usize) -> u64 {
    if profile == Profile::Large {
        const BIG: [(usize, u64); 5] = [(17, 200), (404, 100), (911, 64), (1333, 40), (1777, 24)];
        if let Some((_, mb)) = BIG.iter().find(|(at, _)| *at == i) {
            return mb * 1024 * 1024;
        }
    }
    const ANCHORS: [(f64, f64); 6] = [
        (0.0, 20e3),
        (0.5, 280e3),
        (0.9, 800e3),
        (0.95, 4.5e6),
        (0.99, 8e6),
        (1.0, 16e6),
    ];
    let u: f64 = rng.random();
    let size = ANCHORS
        .windows(2)
        .find(|w| u <= w[1].0)
        .map(|w| {
            let ((u0, v0), (u1, v1)) = (w[0], w[1]);
            let f = (u - u0) / (u1 - u0);
            (v0.ln() + f * (v1.ln() - v0.ln())).exp()
        })
        .unwrap_or(16e6);
    // The demo tenant stays small enough to back up in seconds.
    let cap = if profile == Profile::Large { 16e6 } else { 4e6 };
    size.min(cap) as u64
}

fn script(s: &mut Seeder<'_>, name: &str, with_secret: bool) -> String {
    let mut out = format!("///$tab Main\nSET ThousandSep=',';\nSET DecimalSep='.';\n\n///$tab Load\n// {name}\nLIB CONNECT TO 'Finance Development:SQL Warehouse';\nSales:\nLOAD OrderID, CustomerID, Amount;\nSQL SELECT * FROM dbo.Sales;\n");
    if with_secret {
        // Inline credentials, as admins find them in old scripts: the backup must report them.
        let pwd = s.secret("script-pwd");
        out.push_str(&format!(
            "\nODBC CONNECT TO [Legacy DSN] (XUserId is admin, pwd={pwd});\n"
        ));
    }
    out
}

fn objects(s: &mut Seeder<'_>, owner: &str) -> Vec<serde_json::Value> {
    let sheets = 1 + s.rng.random_range(0..4);
    let mut out = Vec::new();
    for i in 0..sheets {
        out.push(json!({"qInfo": {"qId": s.id(crate::state::IdStyle::Token), "qType": "sheet"}, "qMetaDef": {"title": format!("Sheet {}", i + 1)}, "qMeta": {"published": true, "approved": true, "owner": owner}}));
    }
    out.push(json!({"qInfo": {"qId": s.id(crate::state::IdStyle::Token), "qType": "bookmark"}, "qMetaDef": {"title": "Current year"}, "qMeta": {"published": true, "approved": true, "owner": owner}}));
    out.push(json!({"qInfo": {"qId": s.id(crate::state::IdStyle::Token), "qType": "bookmark"}, "qMetaDef": {"title": "My private view"}, "qMeta": {"published": false, "approved": false, "owner": owner}}));
    out
}

pub fn seed(s: &mut Seeder<'_>) {
    let n = s.scale.apps;
    let mut in_shared: Vec<String> = Vec::new();
    for i in 0..n {
        let topic = TOPICS[i % TOPICS.len()];
        let name = if i < TOPICS.len() {
            topic.to_string()
        } else {
            format!("{topic} {}", i / TOPICS.len() + 1)
        };
        let owner = s.user();
        // 35% personal, the rest in shared, managed and data spaces.
        let placement: f64 = s.rng.random();
        let space_id = if placement < 0.35 {
            String::new()
        } else if placement < 0.75 {
            s.space_of("shared").unwrap_or_default()
        } else if placement < 0.95 {
            s.space_of("managed").unwrap_or_default()
        } else {
            s.space_of("data").unwrap_or_default()
        };
        let usage = if placement >= 0.95 {
            "DATA_PREPARATION"
        } else {
            "ANALYTICS"
        };
        let size = export_size(&mut s.rng, s.profile, i);
        let with_secret = i % 23 == 4;
        let content = AppContent {
            content_seed: s.rng.random(),
            size,
            script: script(s, &name, with_secret),
            objects: objects(s, &owner),
        };
        let created = s.past(700);
        let modified = created
            + chrono::Duration::seconds(
                s.rng
                    .random_range(0..(s.base_time - created).num_seconds().max(1)),
            );
        let space_type = s
            .spaces
            .iter()
            .find(|(id, _)| *id == space_id)
            .map(|(_, t)| t.clone())
            .unwrap_or_default();
        let new = NewApp {
            name,
            description: format!(
                "{topic} for the {} team",
                if space_id.is_empty() {
                    "owner's"
                } else {
                    "space's"
                }
            ),
            owner_id: owner,
            space_id: space_id.clone(),
            usage: usage.to_string(),
            has_section_access: i % 41 == 7,
            origin_app_id: None,
            publish: space_type == "managed",
            content,
            created,
            modified,
            last_reload: Some(modified),
        };
        let url = s.url.clone();
        let id = insert_app(s.state, &url, new);
        if space_type == "shared" {
            in_shared.push(id.clone());
        }
        s.apps.push(id);
    }
    // Managed-space apps published from shared-space sources keep their lineage.
    let managed_apps: Vec<String> = s
        .apps
        .iter()
        .filter(|id| {
            let sp = s
                .state
                .get("apps", id)
                .and_then(|a| a["attributes"]["spaceId"].as_str())
                .unwrap_or_default();
            s.spaces.iter().any(|(sid, t)| sid == sp && t == "managed")
        })
        .cloned()
        .collect();
    for (k, app_id) in managed_apps.iter().enumerate() {
        if let Some(origin) = in_shared
            .get(k % in_shared.len().max(1))
            .filter(|_| k % 2 == 0)
        {
            if let Some(app) = s.state.get_mut("apps", app_id) {
                app["attributes"]["originAppId"] = json!(origin);
            }
            if let Some(item_id) = crate::apps::item_id_of(s.state, app_id) {
                if let Some(item) = s.state.get_mut("items", &item_id) {
                    item["resourceAttributes"]["originAppId"] = json!(origin);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn large_sizes_have_a_long_tail() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let mut sizes: Vec<u64> = (0..1842)
            .map(|i| export_size(&mut rng, Profile::Large, i))
            .collect();
        let total: u64 = sizes.iter().sum();
        sizes.sort_unstable();
        let median = sizes[sizes.len() / 2];
        let p95 = sizes[sizes.len() * 95 / 100];
        assert!((200_000..450_000).contains(&median), "median {median}");
        assert!((3_000_000..8_000_000).contains(&p95), "p95 {p95}");
        assert_eq!(*sizes.last().unwrap(), 200 * 1024 * 1024);
        assert!(
            (1_100_000_000..2_000_000_000).contains(&total),
            "total {total}"
        );
    }
}
