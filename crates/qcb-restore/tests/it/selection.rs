//! Restoring part of a snapshot: one app by ID from the tenth of ten snapshots (with its space,
//! or without it under `--no-deps`), one space with what is in it, and items by name glob.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};

use qcb_emulator::{Emulator, Profile};
use qcb_repo::{Repo, SnapshotInfo};
use qcb_restore::{
    prepare, Action, Outcome, RestoreReport, Secrets, Selection, SnapshotData, TenantMap,
};
use support::*;

const SCALE: f64 = 60.0;
const IMPORT: &str = "POST /api/v1/apps/import";
const CREATE_SPACE: &str = "POST /api/v1/spaces";

fn load(repo: &Repo, snap: &SnapshotInfo) -> SnapshotData {
    tokio::task::block_in_place(|| SnapshotData::load(repo, snap.clone())).expect("load")
}

fn assert_no_failures(report: &RestoreReport) {
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .map(|r| format!("{} {} ({}): {}", r.kind, r.id, r.name, r.detail))
        .collect();
    assert!(failed.is_empty(), "failures:\n{}", failed.join("\n"));
}

/// Snapshot IDs of the items a restore wrote, per kind.
fn done(report: &RestoreReport) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in report.results.iter().filter(|r| r.outcome == Outcome::Done) {
        out.entry(r.kind.clone()).or_default().insert(r.id.clone());
    }
    out
}

/// The content revision of an app in an emulated tenant (changes whenever the app does, and
/// travels inside its export).
fn content_seed(e: &Emulator, app: &str) -> u64 {
    e.tenant()
        .read()
        .app_content
        .get(app)
        .map(|c| c.content_seed)
        .unwrap_or_else(|| panic!("app {app} has content"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_app_by_id_from_the_tenth_of_ten_snapshots() {
    let a = emulator(Profile::Demo, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, SCALE);

    // The app: in a shared space, not published from another app.
    let apps = state_docs(&a, "apps");
    let spaces = state_docs(&a, "spaces");
    let shared: BTreeSet<&str> = spaces
        .iter()
        .filter(|s| str_of(s, "type") == "shared")
        .map(|s| str_of(s, "id"))
        .collect();
    let app = apps
        .iter()
        .map(|a| &a["attributes"])
        .find(|a| shared.contains(str_of(a, "spaceId")) && str_of(a, "originAppId").is_empty())
        .expect("an app in a shared space");
    let (app_id, app_name, space_id) = (
        str_of(app, "id").to_string(),
        str_of(app, "name").to_string(),
        str_of(app, "spaceId").to_string(),
    );
    let others: Vec<String> = apps
        .iter()
        .map(|a| str_of(&a["attributes"], "id").to_string())
        .filter(|id| *id != app_id)
        .collect();

    // Ten snapshots; between them the app and a few others change.
    let mut snaps = Vec::new();
    let mut seeds = Vec::new();
    for i in 0..10 {
        if i > 0 {
            a.tenant().touch("apps", &app_id).expect("touch");
            a.tenant()
                .touch("apps", &others[i % others.len()])
                .expect("touch");
            a.tenant()
                .touch("apps", &others[(3 * i) % others.len()])
                .expect("touch");
        }
        let (_, snap) = back_up(&ca, &repo).await;
        snaps.push(snap);
        seeds.push(content_seed(&a, &app_id));
    }
    let all = tokio::task::block_in_place(|| repo.snapshots()).expect("snapshots");
    assert_eq!(all.len(), 10);
    assert_ne!(
        seeds[0], seeds[9],
        "the app changed between the first and the tenth"
    );
    let tenth = snaps[9].clone();

    // With what it cannot work without: its space.
    let b = emulator(Profile::Empty, SCALE).await;
    let cb = client(&b, SCALE);
    let sel = Selection {
        ids: vec![app_id.clone()],
        ..Selection::default()
    };
    let prepared = prepare(
        &cb,
        repo.clone(),
        tenth.clone(),
        &sel,
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan");
    assert_eq!(writes(&b), 0, "{:?}", write_ops(&b));
    let planned: Vec<(String, String, Action)> = prepared
        .plan
        .steps
        .iter()
        .map(|s| (s.kind.clone(), s.id.clone(), s.action))
        .collect();
    assert_eq!(
        planned,
        vec![
            ("spaces".to_string(), space_id.clone(), Action::Create),
            ("apps".to_string(), app_id.clone(), Action::Create),
        ],
        "{}",
        prepared.plan.table()
    );
    b.tenant().reset_counters();
    let report = restore(
        &cb,
        &repo,
        &tenth,
        &sel,
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    assert_no_failures(&report);
    assert_eq!(calls(&b, IMPORT), 1, "{:?}", write_ops(&b));
    assert_eq!(calls(&b, CREATE_SPACE), 1, "{:?}", write_ops(&b));
    let new_app = report
        .results
        .iter()
        .find(|r| r.kind == "apps" && r.id == app_id)
        .and_then(|r| r.new_id.clone())
        .expect("the app's new ID");
    let new_space = report
        .results
        .iter()
        .find(|r| r.kind == "spaces" && r.id == space_id)
        .and_then(|r| r.new_id.clone())
        .expect("the space's new ID");
    let restored = b
        .tenant()
        .read()
        .get("apps", &new_app)
        .cloned()
        .expect("the app in the target");
    assert_eq!(str_of(&restored["attributes"], "name"), app_name);
    assert_eq!(str_of(&restored["attributes"], "spaceId"), new_space);
    assert_eq!(
        content_seed(&b, &new_app),
        seeds[9],
        "the tenth snapshot's version of the app came back"
    );
    assert_eq!(state_docs(&b, "apps").len(), 1, "no other app");

    // Without it (--no-deps): the app alone, in the restorer's personal space, and a note.
    let c = emulator(Profile::Empty, SCALE).await;
    let cc = client(&c, SCALE);
    c.tenant().reset_counters();
    let alone = Selection {
        no_deps: true,
        ..sel
    };
    let report = restore(
        &cc,
        &repo,
        &tenth,
        &alone,
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    assert_no_failures(&report);
    assert_eq!(calls(&c, IMPORT), 1, "{:?}", write_ops(&c));
    assert_eq!(calls(&c, CREATE_SPACE), 0, "{:?}", write_ops(&c));
    assert!(state_docs(&c, "spaces").is_empty());
    assert!(
        report
            .manual
            .iter()
            .any(|m| m.kind == "apps" && m.id == app_id && m.what.contains(&space_id)),
        "the missing space is reported: {:#?}",
        report.manual
    );
}

/// The space of a document of the snapshot, wherever its kind keeps it.
fn space_of(e: &qcb_restore::snapshot::Entry) -> String {
    ["/spaceId", "/space", "/metadata/spaceId"]
        .iter()
        .map(|p| e.str_at(p))
        .find(|s| !s.is_empty())
        .unwrap_or_default()
        .to_string()
}

const IN_SPACES: &[&str] = &[
    "apps",
    "reload-tasks",
    "scheduling-tasks",
    "data-connections",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_space_by_name_comes_back_with_its_apps_tasks_and_connections() {
    let a = emulator(Profile::Demo, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, SCALE);
    let (_, snap) = back_up(&ca, &repo).await;
    let data = load(&repo, &snap);

    // The shared space with the most apps, tasks and connections in it.
    let in_space = |space: &str| -> BTreeMap<String, BTreeSet<String>> {
        let mut m: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in &data.entries {
            if IN_SPACES.contains(&e.kind.name)
                && space_of(e) == space
                && e.str_at("/qType") != "qix-datafiles.exe"
            {
                m.entry(e.kind.name.to_string())
                    .or_default()
                    .insert(e.id.clone());
            }
        }
        m
    };
    let (space_id, space_name, expected) = data
        .entries
        .iter()
        .filter(|e| e.kind.name == "spaces" && e.str_at("/type") == "shared")
        .map(|e| (e.id.clone(), e.name.clone(), in_space(&e.id)))
        .max_by_key(|(_, _, m)| (m.len(), m.values().map(BTreeSet::len).sum::<usize>()))
        .expect("a shared space");
    for k in ["apps", "reload-tasks", "scheduling-tasks"] {
        assert!(
            expected.contains_key(k),
            "{space_name} holds {k}: {expected:?}"
        );
    }

    // Strictly the space (--no-deps): it, and only what is in it. A chained task whose
    // upstream task is elsewhere cannot be made without it, and fails saying so.
    let b = emulator(Profile::Empty, SCALE).await;
    let cb = client(&b, SCALE);
    let strict = Selection {
        spaces: vec![space_name.clone()],
        no_deps: true,
        ..Selection::default()
    };
    let report = restore(
        &cb,
        &repo,
        &snap,
        &strict,
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    // What was tried (done, or failed for want of a dependency left out).
    let mut written = done(&report);
    let attempted: BTreeSet<&str> = report
        .results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Done | Outcome::Failed))
        .map(|r| r.id.as_str())
        .collect();
    for r in report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
    {
        let e = data
            .entries
            .iter()
            .find(|e| e.kind.name == r.kind && e.id == r.id)
            .expect("a snapshot entry");
        let mut refs = Vec::new();
        qcb_restore::ids::ids_in(e.attrs(), &mut refs);
        let left_out = refs.iter().any(|id| {
            *id != e.id
                && !attempted.contains(id.as_str())
                && data
                    .entries
                    .iter()
                    .any(|x| x.id == *id && x.kind.name == r.kind)
        });
        assert!(
            left_out,
            "{} {} ({}) failed, and not for want of what --no-deps left out: {}",
            r.kind, r.name, r.id, r.detail
        );
        written
            .entry(r.kind.clone())
            .or_default()
            .insert(r.id.clone());
    }
    assert_eq!(
        written.get("spaces"),
        Some(&BTreeSet::from([space_id.clone()])),
        "{written:?}"
    );
    for k in IN_SPACES {
        assert_eq!(
            written.get(*k).cloned().unwrap_or_default(),
            expected.get(*k).cloned().unwrap_or_default(),
            "{k} of space {space_name}: restored vs in the snapshot"
        );
    }
    for (k, ids) in &written {
        for id in ids {
            let e = data
                .entries
                .iter()
                .find(|e| e.kind.name == k && e.id == *id)
                .expect("a snapshot entry");
            assert!(
                k == "spaces" || space_of(e) == space_id,
                "{k} {} ({id}) is outside {space_name}",
                e.name
            );
        }
    }
    assert_eq!(calls(&b, CREATE_SPACE), 1, "{:?}", write_ops(&b));
    assert_eq!(
        calls(&b, IMPORT) as usize,
        expected["apps"].len(),
        "{:?}",
        write_ops(&b)
    );

    // With what those items need: whatever else comes is referenced by something restored.
    let c = emulator(Profile::Empty, SCALE).await;
    let cc = client(&c, SCALE);
    let with_deps = Selection {
        no_deps: false,
        ..strict
    };
    let report = restore(
        &cc,
        &repo,
        &snap,
        &with_deps,
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    assert_no_failures(&report);
    let written = done(&report);
    for k in IN_SPACES {
        let have = written.get(*k).cloned().unwrap_or_default();
        let want = expected.get(*k).cloned().unwrap_or_default();
        assert!(
            want.is_subset(&have),
            "{k} of {space_name} restored: missing {:?}",
            want.difference(&have).collect::<Vec<_>>()
        );
    }
    let restored: Vec<&qcb_restore::snapshot::Entry> = data
        .entries
        .iter()
        .filter(|e| {
            written
                .get(e.kind.name)
                .is_some_and(|ids| ids.contains(&e.id))
        })
        .collect();
    for e in &restored {
        if e.id == space_id || space_of(e) == space_id {
            continue;
        }
        let needed = restored.iter().any(|r| {
            let mut ids = Vec::new();
            qcb_restore::ids::ids_in(r.attrs(), &mut ids);
            r.id != e.id && ids.contains(&e.id)
        });
        assert!(
            needed,
            "{} {} ({}) is outside {space_name} and nothing restored needs it",
            e.kind.name, e.name, e.id
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_are_selected_by_glob() {
    let a = emulator(Profile::Demo, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, SCALE);
    let (_, snap) = back_up(&ca, &repo).await;
    let data = load(&repo, &snap);
    let b = emulator(Profile::Empty, SCALE).await;
    let cb = client(&b, SCALE);

    let names_of = |kind: &str, f: &dyn Fn(&str) -> bool| -> BTreeSet<String> {
        data.entries
            .iter()
            .filter(|e| e.kind.name == kind && f(&e.name))
            .map(|e| e.id.clone())
            .collect()
    };
    let planned = |plan: &qcb_restore::Plan, kind: &str| -> BTreeSet<String> {
        plan.steps
            .iter()
            .filter(|s| s.kind == kind)
            .map(|s| s.id.clone())
            .collect()
    };
    let plan_of = |sel: Selection| {
        let (cb, repo, snap) = (&cb, repo.clone(), snap.clone());
        async move {
            prepare(cb, repo, snap, &sel, &TenantMap::default(), "")
                .await
                .expect("plan")
                .plan
        }
    };

    // `*` and `?`, any case, whole names only; several globs add up.
    let churn = names_of("apps", &|n| n.to_lowercase().contains("churn"));
    let headcount = names_of("apps", &|n| n.starts_with("Headcount ") && n.len() == 11);
    assert!(!churn.is_empty() && !headcount.is_empty());
    let plan = plan_of(Selection {
        only: vec!["apps".into()],
        names: vec!["*CHURN*".into(), "Headcount ?".into()],
        no_deps: true,
        ..Selection::default()
    })
    .await;
    let want: BTreeSet<String> = churn.union(&headcount).cloned().collect();
    assert_eq!(planned(&plan, "apps"), want, "{}", plan.table());
    assert_eq!(plan.steps.len(), want.len(), "{}", plan.table());

    // Without --only, a glob picks every kind's items of that name.
    let plan = plan_of(Selection {
        names: vec!["Reload Inventory*".into()],
        no_deps: true,
        ..Selection::default()
    })
    .await;
    let tasks = names_of("scheduling-tasks", &|n| n.starts_with("Reload Inventory"));
    assert!(!tasks.is_empty());
    assert_eq!(
        planned(&plan, "scheduling-tasks"),
        tasks,
        "{}",
        plan.table()
    );
    assert!(
        plan.steps
            .iter()
            .all(|s| s.name.starts_with("Reload Inventory")),
        "{}",
        plan.table()
    );
    assert_eq!(writes(&b), 0, "plans write nothing: {:?}", write_ops(&b));

    // Restored: exactly the matching apps are imported.
    let report = restore(
        &cb,
        &repo,
        &snap,
        &Selection {
            only: vec!["apps".into()],
            names: vec!["*churn*".into()],
            no_deps: true,
            ..Selection::default()
        },
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    assert_no_failures(&report);
    assert_eq!(
        calls(&b, IMPORT) as usize,
        churn.len(),
        "{:?}",
        write_ops(&b)
    );
    let mut names: Vec<String> = state_docs(&b, "apps")
        .iter()
        .map(|a| str_of(&a["attributes"], "name").to_string())
        .collect();
    names.sort();
    let mut want: Vec<String> = data
        .entries
        .iter()
        .filter(|e| churn.contains(&e.id))
        .map(|e| e.name.clone())
        .collect();
    want.sort();
    assert_eq!(names, want);
}

/// A tenant without tenant settings (its PATCH answers 404, as the spec says) gets them
/// created by POST from the snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_settings_missing_in_the_target_are_created() {
    use qcb_qlik::{Method, Request};
    let a = emulator(Profile::Demo, SCALE).await;
    let b = emulator(Profile::Empty, SCALE).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let (ca, cb) = (client(&a, SCALE), client(&b, SCALE));
    let (_, snap) = back_up(&ca, &repo).await;
    let source = ca
        .get_json("/api/v1/tenant-settings", "")
        .await
        .expect("A's settings");
    cb.call_json(&Request::new(Method::DELETE, "/api/v1/tenant-settings"))
        .await
        .expect("delete B's settings");
    let gone = cb.get_json("/api/v1/tenant-settings", "").await;
    assert_eq!(gone.err().and_then(|e| e.status()), Some(404));

    b.tenant().reset_counters();
    let only = Selection {
        only: vec!["tenant-settings".into()],
        ..Selection::default()
    };
    let report = restore(
        &cb,
        &repo,
        &snap,
        &only,
        &TenantMap::default(),
        &Secrets::default(),
    )
    .await;
    assert_eq!(report.counts.done, 1, "{}", report.summary());
    assert_eq!(
        calls(&b, "PATCH /api/v1/tenant-settings"),
        1,
        "{:?}",
        write_ops(&b)
    );
    assert_eq!(
        calls(&b, "POST /api/v1/tenant-settings"),
        1,
        "{:?}",
        write_ops(&b)
    );
    let created = cb
        .get_json("/api/v1/tenant-settings", "")
        .await
        .expect("B's settings now");
    // Every field a create takes comes back as it was in A.
    let (fields, _) = qcb_catalog::spec::request_fields("POST", "/api/v1/tenant-settings")
        .expect("the spec's create fields");
    let mut compared = 0;
    for f in fields.iter().filter(|f| source.get(**f).is_some()) {
        assert_eq!(created.get(*f), source.get(*f), "field {f}");
        compared += 1;
    }
    assert!(compared > 0, "A's settings hold fields a create takes");
}
