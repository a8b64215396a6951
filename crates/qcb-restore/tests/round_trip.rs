//! Tenant A → backup → restore into an empty tenant B → compare A and B with IDs mapped and
//! secrets and server-managed fields left out. A plan writes nothing; a second restore
//! creates nothing.

mod support;

use std::collections::BTreeMap;

use qcb_emulator::Profile;
use qcb_restore::{execute, prepare, Action, ApplyOptions, Outcome, Secrets, Selection, TenantMap};
use support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_tenant_comes_back_whole_in_an_empty_tenant() {
    let a = emulator(Profile::Demo, 60.0).await;
    let b = emulator(Profile::Empty, 60.0).await;
    let tmp = tempfile::tempdir().expect("tmp");
    let repo = repo(tmp.path());
    let ca = client(&a, 60.0);
    let cb = client(&b, 60.0);
    let (manifest, snap) = back_up(&ca, &repo).await;

    // The plan writes nothing.
    b.tenant().reset_counters();
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
    assert_eq!(
        writes(&b),
        0,
        "a plan makes no write call: {:?}",
        b.tenant().counters().per_operation
    );
    let plan = &prepared.plan;
    assert!(plan.count(Action::Create) > 100, "{}", plan.table());
    println!("{}", plan.table());

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
    println!("{}", report.summary());
    for m in &report.manual {
        println!("manual: {} {} ({}): {}", m.kind, m.id, m.name, m.what);
    }
    let failed: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == Outcome::Failed)
        .collect();
    assert!(failed.is_empty(), "failures: {failed:#?}");

    // Fidelity: every kind of A, compared with B.
    let map = map_of(&report);
    let mut table = String::from("\nkind                      items  equal  differing  runbook\n");
    let mut problems = Vec::new();
    for k in qcb_catalog::all() {
        let Some(c) = manifest.counts.get(k.name) else {
            continue;
        };
        if k.restore == qcb_catalog::Restore::Reference || k.bundle {
            continue;
        }
        if !matches!(k.source, qcb_catalog::Source::List { .. }) || k.name == "apps" {
            continue;
        }
        let in_a = items(&ca, k).await;
        let in_b = items(&cb, k).await;
        let manual: Vec<_> = report.manual.iter().filter(|m| m.kind == k.name).collect();
        let (mut equal, mut differing) = (0, 0);
        for (key, doc_a) in &in_a {
            let want = normalise(k, doc_a, &map);
            let listed = manual
                .iter()
                .any(|m| Some(m.id.as_str()) == doc_a.get(k.id_field).and_then(|v| v.as_str()));
            // A space's DataFiles connection is made by Qlik with the space.
            if doc_a["qType"] == "qix-datafiles.exe" {
                continue;
            }
            match in_b.get(key) {
                Some(doc_b) => {
                    let have = normalise(k, doc_b, &qcb_restore::ids::IdMap::default());
                    let diff: Vec<String> = want
                        .as_object()
                        .into_iter()
                        .flatten()
                        .filter(|(f, v)| have.get(f.as_str()) != Some(v))
                        .map(|(f, _)| f.clone())
                        .collect();
                    if diff.is_empty() {
                        equal += 1;
                    } else {
                        differing += 1;
                        if !listed {
                            let detail: Vec<String> = diff
                                .iter()
                                .map(|f| {
                                    format!(
                                        "{f}: {} vs {}",
                                        want[f.as_str()],
                                        have.get(f.as_str()).cloned().unwrap_or_default()
                                    )
                                })
                                .collect();
                            problems.push(format!(
                                "{} {key}: differs in {}",
                                k.name,
                                detail.join("; ")
                            ));
                        }
                    }
                }
                None => {
                    differing += 1;
                    if !listed {
                        problems.push(format!("{} {key}: missing in B", k.name));
                    }
                }
            }
        }
        table.push_str(&format!(
            "{:<25} {:>5} {:>6} {:>10} {:>8}\n",
            k.name,
            c.total,
            equal,
            differing,
            manual.len()
        ));
    }
    println!("{table}");
    // Apps: the same names in the same spaces (by name), each reloaded by a person.
    let apps_a = ca
        .list_all("/api/v1/items", "resourceType=app&limit=100", "data")
        .await
        .expect("a apps");
    let apps_b = cb
        .list_all("/api/v1/items", "resourceType=app&limit=100", "data")
        .await
        .expect("b apps");
    let names = |v: &[serde_json::Value]| {
        let mut n: Vec<String> = v
            .iter()
            .map(|i| i["name"].as_str().unwrap_or_default().to_string())
            .collect();
        n.sort();
        n
    };
    assert_eq!(
        names(&apps_a),
        names(&apps_b),
        "every app comes back under its name"
    );
    assert!(
        problems.is_empty(),
        "not restored faithfully:\n{}",
        problems.join("\n")
    );

    // Again: nothing new is created.
    b.tenant().reset_counters();
    let again = prepare(
        &cb,
        repo.clone(),
        snap,
        &Selection::default(),
        &TenantMap::default(),
        "",
    )
    .await
    .expect("plan again");
    let creates: Vec<String> = again
        .plan
        .steps
        .iter()
        .filter(|s| s.action == Action::Create)
        .map(|s| format!("{} {} ({})", s.kind, s.name, s.reason))
        .collect();
    assert!(
        creates.is_empty(),
        "a second restore creates nothing: {creates:#?}"
    );
    let mut by_action: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &again.plan.steps {
        *by_action.entry(s.action.as_str()).or_default() += 1;
    }
    println!("second plan: {by_action:?}");
    for s in again
        .plan
        .steps
        .iter()
        .filter(|s| matches!(s.action, Action::Conflict | Action::Update))
    {
        println!(
            "again: {} {} {}: {}",
            s.kind,
            s.name,
            s.action.as_str(),
            s.reason
        );
    }
}
