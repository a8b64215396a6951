//! Who owns what a restore brings back when the original owners are not in the target:
//! `--fallback-owner` (checked before any write), each hand-over reported with the original
//! owner, and automations — whose connections Qlik detaches on an owner change — with a step
//! to re-attach them. What the restore could not map is in the report too.

use crate::support;

use qcb_emulator::Profile;
use qcb_qlik::{Method, Request};
use qcb_restore::{
    execute, prepare, ApplyOptions, Outcome, RestoreError, Secrets, Selection, TenantMap,
};
use serde_json::json;
use support::*;

const SCALE: f64 = 60.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_missing_in_the_target_go_to_the_fallback_owner_and_are_reported() {
    let a = emulator(Profile::Demo, SCALE).await;
    let b = emulator(Profile::Empty, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let (ca, cb) = (client(&a, SCALE), client(&b, SCALE));
    let (_, snap) = back_up(&ca, &repo).await;
    // Apps and automations without their users: their owners are not in B.
    let sel = Selection {
        only: vec!["apps".into(), "automations".into()],
        ..Selection::default()
    };
    let body =
        json!({"subject": "auth0|b-fallback", "email": "fallback@b.example", "name": "Fallback"});
    let (_, fallback) = cb
        .call_json(&Request::new(Method::POST, "/api/v1/users").json(&body))
        .await
        .expect("a user in B");
    let fallback_id = str_of(&fallback, "id").to_string();
    let no_map = TenantMap::default();
    let plan = || prepare(&cb, repo.clone(), snap.clone(), &sel, &no_map, "");

    // A fallback owner B does not have: refused while planning, and by execute, unwritten.
    b.tenant().reset_counters();
    let mut prepared = plan().await.expect("plan");
    let err = prepared
        .set_fallback_owner(Some("nobody@b.example"))
        .unwrap_err();
    assert!(
        matches!(err, RestoreError::FallbackOwner { .. }) && err.is_usage(),
        "{err:?}"
    );
    assert!(err.to_string().contains("nobody@b.example"), "{err}");
    let opts = ApplyOptions {
        fallback_owner: Some("nobody@b.example".into()),
        ..ApplyOptions::default()
    };
    let err = execute(
        &cb,
        repo.clone(),
        prepared,
        &Secrets::default(),
        &opts,
        None,
    )
    .await
    .map(|r| r.summary())
    .unwrap_err();
    assert!(matches!(err, RestoreError::FallbackOwner { .. }), "{err:?}");
    assert_eq!(writes(&b), 0, "{:?}", write_ops(&b));

    // A user of B, by e-mail: it owns what the missing owners owned, one report line each.
    let mut prepared = plan().await.expect("plan");
    prepared
        .set_fallback_owner(Some("fallback@b.example"))
        .expect("a user of B");
    assert!(
        prepared.plan.table().contains("fallback@b.example"),
        "{}",
        prepared.plan.table()
    );
    let unmapped = prepared.plan.unmapped.clone();
    assert!(
        unmapped.iter().any(|u| u.kind == "users"),
        "the owners are unmapped: {unmapped:?}"
    );
    let opts = ApplyOptions {
        fallback_owner: Some("fallback@b.example".into()),
        ..ApplyOptions::default()
    };
    let report = execute(
        &cb,
        repo.clone(),
        prepared,
        &Secrets::default(),
        &opts,
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

    // The unmapped references are in the report, in every form.
    assert_eq!(report.unmapped, unmapped);
    let first = &unmapped[0];
    assert!(report.summary().contains(&first.describe()));
    let md = qcb_restore::runbook::report_markdown(&report);
    assert!(
        md.contains("## Unmapped references") && md.contains(&first.id),
        "{md}"
    );
    let json = serde_json::to_value(&report).expect("JSON");
    assert_eq!(
        json["unmapped"].as_array().map(Vec::len),
        Some(unmapped.len())
    );

    let data = tokio::task::block_in_place(|| qcb_restore::SnapshotData::load(&repo, snap.clone()))
        .expect("load");
    let mut checked = (0, 0);
    for r in report.results.iter().filter(|r| r.outcome == Outcome::Done) {
        if r.kind != "apps" && r.kind != "automations" {
            continue;
        }
        let e = data
            .entries
            .iter()
            .find(|e| e.kind.name == r.kind && e.id == r.id)
            .expect("in the snapshot");
        // Owners B has (its admin is A's too) keep what is theirs.
        let old_owner = e.str_at("/ownerId");
        if !unmapped
            .iter()
            .any(|u| u.kind == "users" && u.id == old_owner)
        {
            continue;
        }
        let new_id = r.new_id.clone().expect("a new ID");
        let there = b
            .tenant()
            .read()
            .get(&r.kind, &new_id)
            .cloned()
            .expect("restored");
        let owner = if r.kind == "apps" {
            str_of(&there["attributes"], "ownerId").to_string()
        } else {
            str_of(&there, "ownerId").to_string()
        };
        assert_eq!(
            owner, fallback_id,
            "{} {} belongs to the fallback owner",
            r.kind, r.name
        );
        let steps: Vec<&str> = report
            .manual
            .iter()
            .filter(|m| m.kind == r.kind && m.id == r.id)
            .map(|m| m.what.as_str())
            .collect();
        assert!(
            steps.iter().any(
                |w| w.contains("handed to the fallback owner fallback@b.example")
                    && w.contains(old_owner)
            ),
            "{} {}: the hand-over names the original owner: {steps:#?}",
            r.kind,
            r.name
        );
        if r.kind == "automations" {
            assert!(
                steps
                    .iter()
                    .any(|w| w.contains("re-attach its connections")),
                "{}: {steps:#?}",
                r.name
            );
            checked.1 += 1;
        } else {
            checked.0 += 1;
        }
    }
    assert!(checked.0 > 0 && checked.1 > 0, "{checked:?}");
}

/// A tenant's users: ID → subject.
async fn subjects(c: &qcb_qlik::TenantClient) -> std::collections::BTreeMap<String, String> {
    c.list_all("/api/v1/users", "limit=100", "data")
        .await
        .expect("users")
        .iter()
        .map(|u| {
            (
                str_of(u, "id").to_string(),
                str_of(u, "subject").to_string(),
            )
        })
        .collect()
}

/// No task API takes an owner, and a task runs as whoever creates it: with an OAuth client
/// that may impersonate users, each task is created as its (restored) owner; with an API key,
/// which cannot, as the restorer — and the report says so for each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tasks_are_created_as_their_owners_when_the_client_may_impersonate() {
    let a = emulator(Profile::Demo, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, SCALE);
    let (_, snap) = back_up(&ca, &repo).await;
    let sel = Selection {
        only: vec![
            "users".into(),
            "groups".into(),
            "spaces".into(),
            "data-connections".into(),
            "apps".into(),
            "reload-tasks".into(),
        ],
        ..Selection::default()
    };
    let owners_in_a = subjects(&ca).await;
    let tasks_in_a = ca
        .list_all("/api/v1/reload-tasks", "limit=100", "data")
        .await
        .expect("tasks of A");
    assert!(!tasks_in_a.is_empty());

    for impersonate in [true, false] {
        let b = emulator(Profile::Empty, SCALE).await;
        let cb = if impersonate {
            client(&b, SCALE)
        } else {
            api_key_client(&b, SCALE)
        };
        let prepared = prepare(
            &cb,
            repo.clone(),
            snap.clone(),
            &sel,
            &TenantMap::default(),
            "",
        )
        .await
        .expect("plan");
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
        let subjects_in_b = subjects(&cb).await;
        let tasks_in_b = cb
            .list_all("/api/v1/reload-tasks", "limit=100", "data")
            .await
            .expect("tasks of B");
        assert_eq!(tasks_in_b.len(), tasks_in_a.len(), "{}", report.summary());
        // Task by task (through the restore's ID map): does it run as its owner's user in B?
        let new_ids = report
            .id_map
            .get("reload-tasks")
            .cloned()
            .unwrap_or_default();
        let as_owner = tasks_in_a
            .iter()
            .filter(|t| {
                let want = owners_in_a.get(str_of(t, "userId"));
                let new = new_ids
                    .get(str_of(t, "id"))
                    .map(String::as_str)
                    .unwrap_or_default();
                let got = tasks_in_b
                    .iter()
                    .find(|b| str_of(b, "id") == new)
                    .and_then(|b| subjects_in_b.get(str_of(b, "userId")));
                want.is_some() && got == want
            })
            .count();
        let steps = report
            .manual
            .iter()
            .filter(|m| {
                m.kind == "reload-tasks" && m.what.contains("runs as the identity that restored it")
            })
            .count();
        if impersonate {
            assert_eq!(as_owner, tasks_in_a.len(), "{:#?}", report.manual);
            assert_eq!(steps, 0, "{:#?}", report.manual);
        } else {
            assert_eq!(as_owner, 0);
            assert_eq!(
                steps,
                tasks_in_a.len(),
                "one step per task: {:#?}",
                report.manual
            );
        }
        let _ = b.stop().await;
    }
}
