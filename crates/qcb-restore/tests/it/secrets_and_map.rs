//! What a person gives a restore: secret values (`--secrets`), which reach the target and no
//! output, and a map of users between tenants (`--map`), which decides who owns what.

use crate::support;

use std::collections::BTreeMap;

use qcb_catalog::scan::TEXT_MARKER;
use qcb_emulator::Profile;
use qcb_qlik::{Method, Request};
use qcb_restore::{execute, prepare, ApplyOptions, Outcome, Secrets, Selection, TenantMap};
use serde_json::{json, Value};
use support::*;

const SCALE: f64 = 60.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn supplied_secrets_reach_the_target_and_no_output() {
    let a = emulator(Profile::Demo, SCALE).await;
    let b = emulator(Profile::Empty, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let (ca, cb) = (client(&a, SCALE), client(&b, SCALE));
    let (_, snap) = back_up(&ca, &repo).await;
    let data = tokio::task::block_in_place(|| qcb_restore::SnapshotData::load(&repo, snap.clone()))
        .expect("load");

    // A data connection whose password was cut out of its connect statement, named by ID,
    // and a webhook with a signing secret, named by name.
    let conn = data
        .entries
        .iter()
        .find(|e| {
            e.kind.name == "data-connections"
                && e.redacted.iter().any(|p| p == "/qConnectStatement")
                && e.str_at("/qConnectStatement").contains(TEXT_MARKER)
        })
        .expect("a connection with a password in its statement");
    let hook = data
        .entries
        .iter()
        .find(|e| e.kind.name == "webhooks" && e.redacted.iter().any(|p| p == "/secret"))
        .expect("a webhook with a secret");
    assert_eq!(
        data.entries
            .iter()
            .filter(|e| e.kind.name == "webhooks" && e.name == hook.name)
            .count(),
        1
    );
    let password = "pw-4a7f19c2e8b3d5a6";
    let signing = "whsec-9c1e5b2d4f60a8e1c3b5d7f9a2c47f3a";
    let file = tmp.path().join("secrets.toml");
    std::fs::write(
        &file,
        format!(
            "[data-connections.\"{}\"]\n\"/qConnectStatement\" = \"{password}\"\n\n[webhooks.\"{}\"]\nsecret = \"{signing}\"\n",
            conn.id, hook.name
        ),
    )
    .expect("write the secrets");
    let secrets = Secrets::from_file(&file).expect("secrets");
    assert!(!format!("{secrets:?}").contains(password));

    let prepared = prepare(
        &cb,
        repo.clone(),
        snap.clone(),
        &Selection::default(),
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    let mut outputs: BTreeMap<&str, String> = BTreeMap::new();
    outputs.insert("plan table", prepared.plan.table());
    outputs.insert(
        "plan JSON",
        serde_json::to_string_pretty(&prepared.plan).expect("plan JSON"),
    );
    let report = execute(
        &cb,
        repo.clone(),
        prepared,
        &secrets,
        &ApplyOptions::default(),
        None,
    )
    .await
    .expect("restore");
    outputs.insert("report summary", report.summary());
    outputs.insert(
        "report JSON",
        serde_json::to_string_pretty(&report).expect("report JSON"),
    );
    outputs.insert(
        "Markdown report",
        qcb_restore::runbook::report_markdown(&report),
    );
    outputs.insert("report debug", format!("{report:?}"));
    for (what, text) in &outputs {
        for secret in [password, signing, "QCBSECRET"] {
            assert!(!text.contains(secret), "{what} shows a secret:\n{text}");
        }
    }

    // The target holds the values.
    let hooks = state_docs(&b, "webhooks");
    let restored_hook = hooks
        .iter()
        .find(|h| str_of(h, "name") == hook.name)
        .expect("the webhook in the target");
    assert_eq!(str_of(restored_hook, "secret"), signing);
    let conns = state_docs(&b, "data-connections");
    let restored_conn = conns
        .iter()
        .find(|c| str_of(c, "qID") == conn.id || str_of(c, "qName") == conn.name)
        .expect("the connection in the target");
    let want = conn
        .str_at("/qConnectStatement")
        .replace(TEXT_MARKER, password);
    assert_eq!(
        str_of(restored_conn, "qConnectStatement"),
        want,
        "the password goes where it was cut out of the statement"
    );

    // Those fields are no longer listed as left to do; the others still are.
    let steps_for = |kind: &str, id: &str| -> Vec<String> {
        report
            .manual
            .iter()
            .filter(|m| m.kind == kind && m.id == id)
            .map(|m| m.what.clone())
            .collect()
    };
    let conn_steps = steps_for("data-connections", &conn.id);
    assert!(
        conn_steps.iter().all(|w| !w.contains("/qConnectStatement")),
        "{conn_steps:#?}"
    );
    let hook_steps = steps_for("webhooks", &hook.id);
    assert!(
        hook_steps.iter().all(|w| !w.contains("/secret")),
        "{hook_steps:#?}"
    );
    assert!(
        hook_steps
            .iter()
            .any(|w| w.contains("/headers/Authorization")),
        "the header values not supplied are still listed: {hook_steps:#?}"
    );
    let other_conn = data
        .entries
        .iter()
        .find(|e| {
            e.kind.name == "data-connections"
                && e.id != conn.id
                && e.redacted.iter().any(|p| p == "/qConnectStatement")
        })
        .expect("another connection with a password");
    assert!(
        steps_for("data-connections", &other_conn.id)
            .iter()
            .any(|w| w.contains("/qConnectStatement")),
        "a password not supplied is listed: {:#?}",
        report.manual
    );
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mapped_users_own_what_their_snapshot_users_owned() {
    let a = emulator(Profile::Demo, SCALE).await;
    let b = emulator(Profile::Empty, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let (ca, cb) = (client(&a, SCALE), client(&b, SCALE));
    let (_, snap) = back_up(&ca, &repo).await;

    // The two users of A who own the most apps and spaces (the admin aside).
    let me = ca.get_json("/api/v1/users/me", "").await.expect("me");
    let admin = str_of(&me, "id").to_string();
    let apps_a = state_docs(&a, "apps");
    let spaces_a = state_docs(&a, "spaces");
    let mut owned: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for app in &apps_a {
        owned
            .entry(str_of(&app["attributes"], "ownerId").to_string())
            .or_default()
            .0 += 1;
    }
    for s in &spaces_a {
        owned.entry(str_of(s, "ownerId").to_string()).or_default().1 += 1;
    }
    let mut ranked: Vec<(&String, &(usize, usize))> = owned
        .iter()
        .filter(|(u, (_, spaces))| **u != admin && !u.is_empty() && *spaces > 0)
        .collect();
    ranked.sort_by(|x, y| (y.1 .0 + y.1 .1).cmp(&(x.1 .0 + x.1 .1)).then(x.0.cmp(y.0)));
    assert!(ranked.len() >= 2, "two users own spaces: {owned:?}");
    let users_a = state_docs(&a, "users");
    let user_a = |id: &str| -> Value {
        users_a
            .iter()
            .find(|u| str_of(u, "id") == id)
            .cloned()
            .expect("the owner is a user")
    };
    let (one, two) = (user_a(ranked[0].0), user_a(ranked[1].0));

    // Their counterparts already exist in B, under other subjects.
    let mut mapped = Vec::new();
    for (i, email) in ["owner.one@b.example", "owner.two@b.example"]
        .iter()
        .enumerate()
    {
        let body = json!({"subject": format!("auth0|b-owner-{i}"), "email": email, "name": format!("B owner {i}")});
        let (_, created) = cb
            .call_json(&Request::new(Method::POST, "/api/v1/users").json(&body))
            .await
            .expect("create a user in B");
        mapped.push(str_of(&created, "id").to_string());
    }
    // Named by subject on one side and e-mail on the other, and by ID and subject.
    let file = tmp.path().join("map.toml");
    std::fs::write(
        &file,
        format!(
            "[users]\n\"{}\" = \"owner.one@b.example\"\n\"{}\" = \"auth0|b-owner-1\"\n",
            str_of(&one, "subject"),
            str_of(&two, "id"),
        ),
    )
    .expect("write the map");
    let map = TenantMap::from_file(&file).expect("map");

    let prepared = prepare(
        &cb,
        repo.clone(),
        snap.clone(),
        &Selection::default(),
        &map,
        &file.display().to_string(),
    )
    .await
    .expect("plan");
    let unmapped: Vec<_> = prepared
        .plan
        .unmapped
        .iter()
        .filter(|u| u.id == str_of(&one, "id") || u.id == str_of(&two, "id"))
        .collect();
    assert!(
        unmapped.is_empty(),
        "mapped users are not unmapped: {unmapped:?}"
    );
    let report = execute(
        &cb,
        repo.clone(),
        prepared,
        &Secrets::default(),
        &ApplyOptions::default(),
        None,
    )
    .await
    .expect("restore");
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");

    // The mapped users are used, not made again.
    let users_b = state_docs(&b, "users");
    for u in [&one, &two] {
        assert!(
            !users_b
                .iter()
                .any(|x| str_of(x, "subject") == str_of(u, "subject")),
            "{} is mapped, so it is not created in B",
            str_of(u, "subject")
        );
    }

    let owner_in_b = [
        (str_of(&one, "id").to_string(), mapped[0].clone()),
        (str_of(&two, "id").to_string(), mapped[1].clone()),
    ];
    let new_id = |kind: &str, old: &str| -> String {
        report
            .results
            .iter()
            .find(|r| r.kind == kind && r.id == old)
            .and_then(|r| r.new_id.clone())
            .unwrap_or_else(|| panic!("{kind} {old} was restored"))
    };
    let mut checked = (0, 0);
    for (old_owner, new_owner) in &owner_in_b {
        for app in apps_a
            .iter()
            .map(|x| &x["attributes"])
            .filter(|x| str_of(x, "ownerId") == old_owner)
        {
            let id = new_id("apps", str_of(app, "id"));
            let there = b
                .tenant()
                .read()
                .get("apps", &id)
                .cloned()
                .expect("the app in B");
            assert_eq!(
                str_of(&there["attributes"], "ownerId"),
                new_owner,
                "app {} belongs to the mapped user",
                str_of(app, "name")
            );
            checked.0 += 1;
        }
        for space in spaces_a
            .iter()
            .filter(|s| str_of(s, "ownerId") == old_owner)
        {
            let id = new_id("spaces", str_of(space, "id"));
            let there = b
                .tenant()
                .read()
                .get("spaces", &id)
                .cloned()
                .expect("the space in B");
            assert_eq!(
                str_of(&there, "ownerId"),
                new_owner,
                "space {} belongs to the mapped user",
                str_of(space, "name")
            );
            checked.1 += 1;
        }
    }
    assert!(checked.0 > 0 && checked.1 > 0, "{checked:?}");
}
