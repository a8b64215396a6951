//! Items that exist in the target and differ: `--on-conflict skip` leaves them and counts them
//! as conflicts, `rename` creates the snapshot's beside them under a new name (a data
//! connection under a new ID too), `replace` overwrites them — except apps, which Qlik cannot
//! replace in place: the plan says so and the app is left as it is.

use crate::support;

use qcb_emulator::{Emulator, Profile};
use qcb_qlik::TenantClient;
use qcb_repo::{Repo, SnapshotInfo};
use qcb_restore::{
    execute, prepare, Action, ApplyOptions, OnConflict, Outcome, RestoreReport, Secrets, Selection,
    SnapshotData, TenantMap,
};
use serde_json::{json, Value};
use support::*;

const SCALE: f64 = 60.0;

/// A shared space and a data connection (in a shared space, without secrets) of the snapshot.
fn picks(data: &SnapshotData) -> (String, String) {
    let space = data
        .entries
        .iter()
        .find(|e| e.kind.name == "spaces" && e.str_at("/type") == "shared")
        .map(|e| e.id.clone())
        .expect("a shared space");
    let conn = data
        .entries
        .iter()
        .find(|e| {
            e.kind.name == "data-connections"
                && e.redacted.is_empty()
                && !e.str_at("/space").is_empty()
                && e.str_at("/qType") != "qix-datafiles.exe"
                && e.str_at("/qUsername").is_empty()
        })
        .map(|e| e.id.clone())
        .expect("a data connection without secrets");
    (space, conn)
}

/// Someone changes the space's description and the connection's statement after the backup.
fn change_both(e: &Emulator, space: &str, conn: &str) {
    let mut state = e.tenant().write();
    state.get_mut("spaces", space).expect("the space")["description"] =
        json!("changed after the backup");
    state
        .get_mut("data-connections", conn)
        .expect("the connection")["qConnectStatement"] =
        json!("CUSTOM CONNECT TO \"provider=changed.exe;host=elsewhere.example;\"");
}

async fn restore_with(
    c: &TenantClient,
    repo: &std::sync::Arc<Repo>,
    snap: &SnapshotInfo,
    sel: &Selection,
    on_conflict: OnConflict,
) -> RestoreReport {
    let prepared = prepare(
        c,
        repo.clone(),
        snap.clone(),
        sel,
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    let opts = ApplyOptions {
        on_conflict,
        ..ApplyOptions::default()
    };
    execute(c, repo.clone(), prepared, &Secrets::default(), &opts, None)
        .await
        .expect("restore")
}

fn outcome<'r>(report: &'r RestoreReport, id: &str) -> &'r qcb_restore::ItemResult {
    report
        .results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} in the report: {}", report.summary()))
}

fn doc(e: &Emulator, kind: &str, id: &str) -> Value {
    e.tenant()
        .read()
        .get(kind, id)
        .cloned()
        .unwrap_or_else(|| panic!("{kind} {id} in the tenant"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_are_kept_renamed_or_replaced_as_asked() {
    let a = emulator(Profile::Demo, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let c = client(&a, SCALE);
    let (_, snap) = back_up(&c, &repo).await;
    let data =
        tokio::task::block_in_place(|| SnapshotData::load(&repo, snap.clone())).expect("load");
    let (space, conn) = picks(&data);
    let original_statement =
        str_of(&doc(&a, "data-connections", &conn), "qConnectStatement").to_string();
    let space_name = str_of(&doc(&a, "spaces", &space), "name").to_string();
    let conn_name = str_of(&doc(&a, "data-connections", &conn), "qName").to_string();
    change_both(&a, &space, &conn);
    let sel = Selection {
        ids: vec![space.clone(), conn.clone()],
        ..Selection::default()
    };

    // The plan names both as conflicts, with what differs.
    let prepared = prepare(
        &c,
        repo.clone(),
        snap.clone(),
        &sel,
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    for (id, field) in [(&space, "description"), (&conn, "qConnectStatement")] {
        let step = prepared
            .plan
            .steps
            .iter()
            .find(|s| s.id == *id)
            .expect("planned");
        assert_eq!(step.action, Action::Conflict, "{}", prepared.plan.table());
        assert!(step.reason.contains(field), "{}", step.reason);
    }

    // skip (the default): kept as they are, counted as conflicts, nothing written.
    a.tenant().reset_counters();
    let report = restore_with(&c, &repo, &snap, &sel, OnConflict::Skip).await;
    for id in [&space, &conn] {
        assert_eq!(outcome(&report, id).outcome, Outcome::Conflict);
    }
    assert_eq!(report.counts.conflicts, 2, "{}", report.summary());
    assert_eq!(writes(&a), 0, "{:?}", write_ops(&a));

    // rename: the snapshot's beside them, under new names; the connection under a new qID.
    a.tenant().reset_counters();
    let report = restore_with(&c, &repo, &snap, &sel, OnConflict::Rename).await;
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect();
    assert!(failed.is_empty(), "{failed:#?}");
    let new_space = outcome(&report, &space)
        .new_id
        .clone()
        .expect("a new space");
    let new_conn = outcome(&report, &conn)
        .new_id
        .clone()
        .expect("a new connection");
    assert_ne!(new_space, space);
    assert_ne!(
        new_conn, conn,
        "the renamed connection has an ID of its own"
    );
    let renamed = doc(&a, "spaces", &new_space);
    assert_eq!(str_of(&renamed, "name"), format!("{space_name} (restored)"));
    assert_ne!(str_of(&renamed, "description"), "changed after the backup");
    let renamed = doc(&a, "data-connections", &new_conn);
    assert_eq!(str_of(&renamed, "qName"), format!("{conn_name} (restored)"));
    assert_eq!(str_of(&renamed, "qConnectStatement"), original_statement);
    // The originals are untouched.
    assert_eq!(
        str_of(&doc(&a, "spaces", &space), "description"),
        "changed after the backup"
    );
    assert_ne!(
        str_of(&doc(&a, "data-connections", &conn), "qConnectStatement"),
        original_statement
    );
    assert!(
        report
            .manual
            .iter()
            .any(|m| m.id == conn && m.what.contains("load scripts name connections by name")),
        "{:#?}",
        report.manual
    );

    // replace: overwritten with the snapshot's; an app changed since is left, and the plan
    // and the report say why.
    let app = data
        .entries
        .iter()
        .find(|e| e.kind.name == "apps" && !e.str_at("/spaceId").is_empty())
        .map(|e| e.id.clone())
        .expect("an app in a space");
    a.tenant().touch("apps", &app).expect("touch");
    let sel = Selection {
        ids: vec![space.clone(), conn.clone(), app.clone()],
        ..Selection::default()
    };
    let prepared = prepare(
        &c,
        repo.clone(),
        snap.clone(),
        &sel,
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    let app_step = prepared
        .plan
        .steps
        .iter()
        .find(|s| s.id == app)
        .expect("the app planned");
    assert_eq!(app_step.action, Action::Conflict);
    assert!(
        app_step
            .reason
            .contains("--on-conflict replace cannot overwrite an app"),
        "{}",
        app_step.reason
    );
    // An assignee of the space lost its roles after the backup and got another: the restore
    // adds the snapshot's roles back to its assignment (it never removes one).
    let (assignment, roles_before) = {
        let state = a.tenant().read();
        let found = state
            .values("space-assignments")
            .find(|x| x["spaceId"] == space.as_str() && x["type"] == "user")
            .map(|x| {
                let roles: Vec<String> = x["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect();
                (str_of(x, "id").to_string(), roles)
            })
            .expect("a user assigned to the space");
        found
    };
    let other = if roles_before.iter().any(|r| r == "facilitator") {
        "consumer"
    } else {
        "facilitator"
    };
    a.tenant()
        .write()
        .get_mut("space-assignments", &assignment)
        .expect("the assignment")["roles"] = json!([other]);
    a.tenant().reset_counters();
    let report = restore_with(&c, &repo, &snap, &sel, OnConflict::Replace).await;
    let roles = doc(&a, "space-assignments", &assignment)["roles"].clone();
    for r in roles_before.iter().map(String::as_str).chain([other]) {
        assert!(
            roles.as_array().is_some_and(|l| l.iter().any(|x| x == r)),
            "{r} in {roles}"
        );
    }
    assert_eq!(outcome(&report, &space).outcome, Outcome::Done);
    assert_eq!(outcome(&report, &conn).outcome, Outcome::Done);
    let kept = outcome(&report, &app);
    assert_eq!(kept.outcome, Outcome::Conflict, "{}", kept.detail);
    assert!(
        report
            .manual
            .iter()
            .any(|m| m.id == app && m.what.contains("--on-conflict rename")),
        "{:#?}",
        report.manual
    );
    assert_eq!(
        calls(&a, "POST /api/v1/apps/import"),
        0,
        "{:?}",
        write_ops(&a)
    );
    assert_ne!(
        str_of(&doc(&a, "spaces", &space), "description"),
        "changed after the backup"
    );
    assert_eq!(
        str_of(&doc(&a, "data-connections", &conn), "qConnectStatement"),
        original_statement
    );

    // Now the two are identical again.
    let prepared = prepare(
        &c,
        repo.clone(),
        snap.clone(),
        &sel,
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    for id in [&space, &conn] {
        let step = prepared
            .plan
            .steps
            .iter()
            .find(|s| s.id == *id)
            .expect("planned");
        assert_eq!(step.action, Action::Skip, "{}", prepared.plan.table());
    }
}
