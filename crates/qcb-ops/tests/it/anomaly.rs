//! Anomaly detection between two snapshots, one rule at a time: counts dropping, identity
//! providers and security settings changing, space assignments removed in bulk. Messages name
//! where something changed, never a value.

use crate::support;

use std::collections::HashMap;

use qcb_backup::Manifest;
use qcb_ops::anomaly::{
    detect, detect_in_repo, previous_snapshot, read_manifest, Anomaly, AnomalyError, AnomalyKind,
    Side, Thresholds,
};
use serde_json::{json, Value};
use support::{manifest, ItemSpec, SECRET};

type Docs = HashMap<String, Value>;

fn run(
    prev: &Manifest,
    cur: &Manifest,
    before: &Docs,
    after: &Docs,
    t: &Thresholds,
) -> Vec<Anomaly> {
    let mut reader = |side: Side, path: &str| -> Result<Option<Value>, AnomalyError> {
        let docs = match side {
            Side::Previous => before,
            Side::Current => after,
        };
        Ok(docs.get(path).cloned())
    };
    detect(prev, cur, t, &mut reader).expect("detect")
}

fn only(items: &[ItemSpec]) -> Manifest {
    manifest("success", items)
}

fn n_items(kind: &'static str, n: usize) -> Vec<(String, String)> {
    (0..n)
        .map(|i| (kind.to_string(), format!("{kind}-{i}")))
        .collect()
}

fn manifest_of(sets: &[Vec<(String, String)>]) -> Manifest {
    let all: Vec<(String, String)> = sets.iter().flatten().cloned().collect();
    let specs: Vec<ItemSpec> = all
        .iter()
        .map(|(k, id)| (k.as_str(), id.as_str(), id.as_str(), "backed_up", None))
        .collect();
    manifest("success", &specs)
}

#[test]
fn a_kind_dropping_past_the_threshold_is_an_anomaly() {
    let t = Thresholds::default();
    let prev = manifest_of(&[n_items("users", 20), n_items("groups", 10)]);
    // users: 20 → 17 (-15%); groups: 10 → 9 (-10%, not more than 10%).
    let cur = manifest_of(&[n_items("users", 17), n_items("groups", 9)]);
    let found = run(&prev, &cur, &Docs::new(), &Docs::new(), &t);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::CountDrop);
    assert_eq!(found[0].subject, "users");
    assert_eq!((found[0].previous, found[0].current), (Some(20), Some(17)));
    assert!(
        found[0].message.contains("users: 20 → 17"),
        "{}",
        found[0].message
    );

    // Growth is never an anomaly, nor is a kind vanishing from a kind that failed to list.
    assert!(run(&cur, &prev, &Docs::new(), &Docs::new(), &t).is_empty());
    let mut failed = manifest_of(&[n_items("groups", 10)]);
    failed.items.push(qcb_backup::Item {
        id: String::new(),
        status: qcb_backup::ItemStatus::Failed,
        error: Some("listing failed: 503".into()),
        ..failed.items[0].clone()
    });
    failed.items.retain(|i| i.kind != "users");
    failed
        .items
        .iter_mut()
        .filter(|i| i.id.is_empty())
        .for_each(|i| i.kind = "users".into());
    assert!(run(&prev, &failed, &Docs::new(), &Docs::new(), &t).is_empty());
}

#[test]
fn apps_have_their_own_threshold() {
    let t = Thresholds {
        app_drop_percent: 50.0,
        ..Thresholds::default()
    };
    let prev = manifest_of(&[n_items("apps", 30)]);
    let some = manifest_of(&[n_items("apps", 20)]); // -33%: under 50%
    assert!(run(&prev, &some, &Docs::new(), &Docs::new(), &t).is_empty());
    let many = manifest_of(&[n_items("apps", 12)]); // -60%
    let found = run(&prev, &many, &Docs::new(), &Docs::new(), &t);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].kind, AnomalyKind::AppDrop);
    assert!(
        found[0].message.contains("apps: 30 → 12 (18 gone, -60%"),
        "{}",
        found[0].message
    );
}

#[test]
fn a_minimum_count_quiets_small_kinds() {
    let t = Thresholds {
        count_drop_min: 3,
        ..Thresholds::default()
    };
    let prev = manifest_of(&[n_items("webhooks", 4)]);
    let cur = manifest_of(&[n_items("webhooks", 2)]); // -50%, but only 2 gone
    assert!(run(&prev, &cur, &Docs::new(), &Docs::new(), &t).is_empty());
}

fn idp(client_id: &str, secret: &str, updated: &str) -> Value {
    json!({"id": "idp1", "provider": "oidc", "active": true, "updatedAt": updated,
           "options": {"clientId": client_id, "clientSecret": secret, "scopes": ["openid"]}})
}

#[test]
fn an_identity_provider_changed_added_or_removed_is_named_without_values() {
    let t = Thresholds::default();
    let items: &[ItemSpec] = &[("identity-providers", "idp1", "Okta", "backed_up", None)];
    let (prev, cur) = (only(items), only(items));
    let path = "identity-providers/idp1.json".to_string();

    // Only a timestamp moved: nothing to say.
    let before = Docs::from([(path.clone(), idp("client-a", "x", "2026-01-01"))]);
    let after = Docs::from([(path.clone(), idp("client-a", "x", "2026-02-01"))]);
    assert!(run(&prev, &cur, &before, &after, &t).is_empty());

    // The client and its secret changed: named by pointer, never by value.
    let before = Docs::from([(
        path.clone(),
        idp(&format!("{SECRET}-old-client"), &format!("{SECRET}-1"), "1"),
    )]);
    let after = Docs::from([(
        path.clone(),
        idp(&format!("{SECRET}-new-client"), &format!("{SECRET}-2"), "2"),
    )]);
    let found = run(&prev, &cur, &before, &after, &t);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::IdentityProviderChanged);
    assert!(
        found[0].message.contains("Okta (idp1)"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("/options/clientId"));
    assert!(found[0].message.contains("/options/clientSecret"));
    assert!(!serde_json::to_string(&found)
        .expect("json")
        .contains(SECRET));

    // A new identity provider, and one removed.
    let two = only(&[
        ("identity-providers", "idp1", "Okta", "backed_up", None),
        ("identity-providers", "idp2", "Evil IdP", "backed_up", None),
    ]);
    let found = run(&prev, &two, &Docs::new(), &Docs::new(), &t);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .message
            .contains("identity provider added: identity-providers Evil IdP (idp2)"),
        "{}",
        found[0].message
    );
    let found = run(&two, &prev, &Docs::new(), &Docs::new(), &t);
    assert!(
        found
            .iter()
            .any(|a| a.message.contains("identity provider removed") && a.message.contains("idp2")),
        "{found:?}"
    );
}

#[test]
fn a_tenant_security_setting_changed_is_an_anomaly() {
    let t = Thresholds::default();
    let items: &[ItemSpec] = &[
        ("auth-settings", "auth-settings", "", "backed_up", None),
        ("ip-policies", "p1", "office", "backed_up", None),
        ("ip-policies", "p2", "vpn", "backed_up", None),
        ("tenant", "tenant", "acme", "backed_up", None),
        ("themes", "th1", "Blue", "backed_up", None),
    ];
    let prev = only(items);
    // The manifest fixture stores singletons at <kind>/<id>.json too.
    let docs = |session: u64, allow: &str, cross: bool, theme: &str| {
        Docs::from([
            (
                "auth-settings/auth-settings.json".into(),
                json!({"sessionTimeout": session, "dcr": false}),
            ),
            (
                "ip-policies/p1.json".into(),
                json!({"name": "office", "allowedIps": [allow]}),
            ),
            (
                "ip-policies/p2.json".into(),
                json!({"name": "vpn", "allowedIps": ["10.0.0.0/8"]}),
            ),
            (
                "tenant/tenant.json".into(),
                json!({"name": "acme", "enableAnalyticCreation": cross, "lastUpdated": "x"}),
            ),
            ("themes/th1.json".into(), json!({"name": theme})),
        ])
    };
    let before = docs(60, "192.0.2.0/24", true, "Blue");
    // Nothing changed but a theme (not a security setting).
    assert!(run(
        &prev,
        &prev,
        &before,
        &docs(60, "192.0.2.0/24", true, "Red"),
        &t
    )
    .is_empty());

    let after = docs(600, "0.0.0.0/0", false, "Blue");
    let mut cur_items = items.to_vec();
    cur_items.retain(|i| i.1 != "p2");
    let cur = only(&cur_items);
    let mut found = run(&prev, &cur, &before, &after, &t);
    // ip-policies: 2 → 1 is also a count drop.
    assert!(found
        .iter()
        .any(|a| a.kind == AnomalyKind::CountDrop && a.subject == "ip-policies"));
    found.retain(|a| a.kind != AnomalyKind::CountDrop);
    let messages: Vec<&str> = found.iter().map(|a| a.message.as_str()).collect();
    assert!(
        found
            .iter()
            .all(|a| a.kind == AnomalyKind::SecuritySettingChanged),
        "{found:?}"
    );
    assert_eq!(found.len(), 4, "{messages:#?}");
    assert!(messages
        .iter()
        .any(|m| m.contains("auth-settings") && m.contains("/sessionTimeout")));
    assert!(messages
        .iter()
        .any(|m| m.contains("ip-policies office (p1)") && m.contains("/allowedIps/0")));
    assert!(messages
        .iter()
        .any(|m| m.contains("security setting removed: ip-policies vpn (p2)")));
    assert!(messages
        .iter()
        .any(|m| m.contains("tenant") && m.contains("/enableAnalyticCreation")));
    // Values are never shown.
    assert!(
        !messages
            .iter()
            .any(|m| m.contains("0.0.0.0") || m.contains("600")),
        "{messages:#?}"
    );

    // Switched off, nothing is said.
    let off = Thresholds {
        security_changes: false,
        ..Thresholds::default()
    };
    assert!(run(&prev, &cur, &before, &after, &off)
        .iter()
        .all(|a| a.kind != AnomalyKind::SecuritySettingChanged));
}

fn space(n: usize) -> Value {
    let a: Vec<Value> = (0..n)
        .map(|i| json!({"id": format!("as{i}"), "type": "user", "assigneeId": format!("u{i}"), "roles": ["consumer"]}))
        .collect();
    json!({"id": "s", "name": "Finance", "assignments": a})
}

fn spaces_manifest(spaces: &[(&'static str, &'static str, u64)]) -> Manifest {
    let specs: Vec<ItemSpec> = spaces
        .iter()
        .map(|(id, name, _)| ("spaces", *id, *name, "backed_up", None))
        .collect();
    let mut m = manifest("success", &specs);
    for (item, (_, _, bytes)) in m.items.iter_mut().zip(spaces) {
        item.bytes = *bytes;
    }
    m
}

#[test]
fn space_assignments_removed_in_bulk_are_an_anomaly() {
    let t = Thresholds::default(); // 10 or more
    let prev = spaces_manifest(&[
        ("s1", "Finance", 1000),
        ("s2", "Sales", 500),
        ("s3", "Old", 700),
    ]);
    let before = Docs::from([
        ("spaces/s1.json".into(), space(12)),
        ("spaces/s2.json".into(), space(5)),
        ("spaces/s3.json".into(), space(4)),
    ]);

    // 8 removed from Finance: under the threshold.
    let cur = spaces_manifest(&[
        ("s1", "Finance", 400),
        ("s2", "Sales", 500),
        ("s3", "Old", 700),
    ]);
    let after = Docs::from([
        ("spaces/s1.json".into(), space(4)),
        ("spaces/s2.json".into(), space(5)),
        ("spaces/s3.json".into(), space(4)),
    ]);
    assert!(run(&prev, &cur, &before, &after, &t).is_empty());

    // 8 from Finance, 4 with the deleted space Old: 12 in all.
    let cur = spaces_manifest(&[("s1", "Finance", 400), ("s2", "Sales", 500)]);
    let mut found = run(&prev, &cur, &before, &after, &t);
    found.retain(|a| a.kind != AnomalyKind::CountDrop); // spaces: 3 → 2
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::AssignmentsRemoved);
    assert_eq!(found[0].current, Some(12));
    assert!(
        found[0]
            .message
            .contains("12 space assignments removed in 2 spaces"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("Finance (s1): 8"));
    assert!(found[0].message.contains("Old (s3) (space deleted): 4"));
}

#[test]
fn assignees_swapped_for_as_many_others_are_removals_too() {
    let t = Thresholds::default(); // 10 or more
    let prev = spaces_manifest(&[("s1", "Finance", 1000)]);
    let before = Docs::from([("spaces/s1.json".into(), space(12))]);
    // The same number of assignments, the same document size: all twelve assignees replaced.
    let cur = spaces_manifest(&[("s1", "Finance", 1000)]);
    let mut swapped = space(12);
    for a in swapped["assignments"].as_array_mut().expect("assignments") {
        let id = a["assigneeId"]
            .as_str()
            .expect("assignee")
            .replace('u', "x");
        a["assigneeId"] = id.into();
        let aid = a["id"].as_str().unwrap_or_default().replace('a', "b");
        a["id"] = aid.into();
    }
    let after = Docs::from([("spaces/s1.json".into(), swapped)]);
    let found = run(&prev, &cur, &before, &after, &t);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].kind, AnomalyKind::AssignmentsRemoved);
    assert_eq!(found[0].current, Some(12));
}

#[test]
fn thresholds_read_from_a_config_with_defaults() {
    let t: Thresholds =
        toml::from_str("count_drop_percent = 25\nassignments_removed = 3\n").expect("parse");
    assert_eq!(t.count_drop_percent, 25.0);
    assert_eq!(t.assignments_removed, 3);
    assert_eq!(t.app_drop_percent, 10.0);
    assert!(t.security_changes);
    assert!(t.security_kinds.iter().any(|k| k == "ip-policies"));
    assert!(
        toml::from_str::<Thresholds>("count_drop = 5\n").is_err(),
        "a misspelt key is refused"
    );
}

#[test]
fn detection_reads_two_snapshots_of_a_repository() {
    use qcb_repo::{Repo, RepoOptions, SnapshotMeta, SnapshotTree, TreeEntry};

    let dir = tempfile::tempdir().expect("tempdir");
    let opts = RepoOptions::new(
        dir.path().to_string_lossy().into_owned(),
        secrecy::SecretString::from("pw".to_string()),
    );
    let repo = Repo::init(&opts).expect("init");
    let at = |s: i64| chrono::DateTime::from_timestamp(1_800_000_000 + s, 0).expect("time");
    let write = |m: &Manifest, docs: &[(&str, Value)], s: i64| {
        let mut tree = SnapshotTree::new();
        let mut stored = m.clone();
        stored.snapshot.clear();
        tree.push(TreeEntry::bytes(
            "manifest.json",
            at(s),
            serde_json::to_vec(&stored).expect("json"),
        ));
        for (path, v) in docs {
            tree.push(TreeEntry::bytes(
                *path,
                at(s),
                serde_json::to_vec(v).expect("json"),
            ));
        }
        repo.write_snapshot(
            tree,
            SnapshotMeta {
                host: "acme.example.com".into(),
                tags: vec!["status:success".into()],
                time: at(s),
                parent: None,
            },
        )
        .expect("write")
        .snapshot
    };
    let items: Vec<(String, String)> = n_items("apps", 10)
        .into_iter()
        .chain([("identity-providers".to_string(), "idp1".to_string())])
        .collect();
    let prev_m = manifest_of(std::slice::from_ref(&items));
    let mut fewer = items.clone();
    fewer.drain(0..5);
    let cur_m = manifest_of(&[fewer]);
    let first = write(
        &prev_m,
        &[("identity-providers/idp1.json", idp("a", "x", "1"))],
        0,
    );
    let second = write(
        &cur_m,
        &[("identity-providers/idp1.json", idp("b", "x", "2"))],
        60,
    );

    let prev = previous_snapshot(&repo, &second)
        .expect("list")
        .expect("a previous snapshot");
    assert_eq!(prev.id, first.id);
    assert!(previous_snapshot(&repo, &first).expect("list").is_none());
    let a = read_manifest(&repo, &prev).expect("manifest");
    let b = read_manifest(&repo, &second).expect("manifest");
    assert_eq!(b.snapshot, second.id.to_string(), "the ID is filled in");
    let found =
        detect_in_repo(&repo, &prev, &second, &a, &b, &Thresholds::default()).expect("detect");
    let kinds: Vec<AnomalyKind> = found.iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![AnomalyKind::AppDrop, AnomalyKind::IdentityProviderChanged],
        "{found:?}"
    );
}
