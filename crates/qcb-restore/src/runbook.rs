//! The runbook: what a restore of a snapshot gives back, known before any disaster — per
//! kind what comes back directly, what is recreated and what a person must re-enter, what is
//! kept only for the record, the restore order and how long it takes at Qlik's rate limits.
//! And, after a restore, the report of what was done and what is left to do.

use qcb_backup::{ItemStatus, Manifest, NotCovered};
use qcb_catalog::Restore;
use serde::Serialize;

use crate::apply::{Outcome, RestoreReport};

#[derive(Debug, Clone, Serialize)]
pub struct KindLine {
    pub kind: String,
    pub items: u64,
    pub restore: Restore,
    pub note: String,
    /// Items of this kind with secrets to enter again.
    pub with_secrets: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretLine {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewIdLine {
    pub kind: String,
    pub items: u64,
    pub who_must_learn_it: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// Write calls (tier 2, 100 per minute per user).
    pub writes: u64,
    /// Read calls (tier 1, 1000 per minute).
    pub reads: u64,
    pub minutes: f64,
    /// Bytes of app exports to upload.
    pub upload_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Runbook {
    pub snapshot: String,
    pub tenant: String,
    pub taken_at: String,
    pub status: String,
    pub order: Vec<String>,
    pub kinds: Vec<KindLine>,
    pub secrets: Vec<SecretLine>,
    /// Credentials found in free text (scripts, connection strings, automation blocks).
    pub credentials_in_text: Vec<SecretLine>,
    pub new_ids: Vec<NewIdLine>,
    /// Items the backup could not capture: they cannot come back from this snapshot.
    pub not_in_snapshot: Vec<SecretLine>,
    pub not_covered: Vec<NotCovered>,
    pub estimate: Estimate,
}

/// Consumers that must learn a new ID after a restore, per kind.
const NEW_IDS: &[(&str, &str)] = &[
    ("apps", "links and bookmarks to the apps, embedded pages, anything that names an app ID (tasks, alerts, templates and collections are remapped by qcb)"),
    ("web-integrations", "every embedding site (the qlik-web-integration-id attribute)"),
    ("oauth-clients", "every consumer of the client (new client ID and secret)"),
    ("automations", "callers of webhook-triggered automations (new trigger URL and token)"),
    ("api-keys", "every script or integration using an API key (new keys must be issued)"),
];

/// Write calls one item of a kind takes to restore, roughly.
fn writes_per_item(kind: &str) -> u64 {
    match kind {
        "apps" => 3,
        "spaces" => 4,
        "data-alerts" | "report-templates" | "brands" | "automations" => 2,
        "collections" => 3,
        _ => 1,
    }
}

pub fn runbook(manifest: &Manifest, snapshot: &str) -> Runbook {
    let order: Vec<String> = qcb_catalog::all()
        .iter()
        .map(|k| k.name.to_string())
        .collect();
    let mut kinds = Vec::new();
    let mut writes = 0u64;
    let mut reads = 0u64;
    let mut upload_bytes = 0u64;
    for k in qcb_catalog::all() {
        let items: Vec<_> = manifest
            .items
            .iter()
            .filter(|i| {
                i.kind == k.name && matches!(i.status, ItemStatus::BackedUp | ItemStatus::Unchanged)
            })
            .collect();
        if items.is_empty() {
            continue;
        }
        let n = if k.bundle {
            // A bundle's manifest item stands for all its members; count them as one write
            // per hundred.
            1
        } else {
            items.len() as u64
        };
        if k.restore != Restore::Reference {
            writes += n * writes_per_item(k.name);
            reads += n;
        }
        if k.name == "apps" {
            upload_bytes += items.iter().map(|i| i.bytes).sum::<u64>();
        }
        kinds.push(KindLine {
            kind: k.name.to_string(),
            items: items.len() as u64,
            restore: k.restore,
            note: k.restore_note.to_string(),
            with_secrets: items.iter().filter(|i| !i.redacted.is_empty()).count() as u64,
        });
    }
    let line = |i: &qcb_backup::Item, fields: Vec<String>| SecretLine {
        kind: i.kind.clone(),
        id: i.id.clone(),
        name: i.name.clone(),
        fields,
    };
    let secrets = manifest
        .items
        .iter()
        .filter(|i| !i.redacted.is_empty() && i.restore != Restore::Reference)
        .map(|i| line(i, i.redacted.clone()))
        .collect();
    let credentials_in_text = manifest
        .items
        .iter()
        .filter(|i| !i.findings.is_empty())
        .map(|i| {
            line(
                i,
                i.findings
                    .iter()
                    .map(|f| format!("{} line {} ({})", f.at, f.line, f.pattern))
                    .collect(),
            )
        })
        .collect();
    let new_ids = NEW_IDS
        .iter()
        .filter_map(|(k, who)| {
            let n = manifest
                .items
                .iter()
                .filter(|i| {
                    i.kind == *k && matches!(i.status, ItemStatus::BackedUp | ItemStatus::Unchanged)
                })
                .count() as u64;
            (n > 0).then(|| NewIdLine {
                kind: k.to_string(),
                items: n,
                who_must_learn_it: who.to_string(),
            })
        })
        .collect();
    let not_in_snapshot = manifest
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .map(|i| line(i, vec![i.error.clone().unwrap_or_default()]))
        .collect();
    // Reads at tier 1 overlap the writes; the writes set the pace.
    let minutes = writes as f64 / 100.0 + reads as f64 / 1000.0 * 0.1;
    Runbook {
        snapshot: snapshot.to_string(),
        tenant: manifest.tenant.hostname.clone(),
        taken_at: manifest.started_at.clone(),
        status: manifest.status.as_str().to_string(),
        order,
        kinds,
        secrets,
        credentials_in_text,
        new_ids,
        not_in_snapshot,
        not_covered: manifest.not_covered.clone(),
        estimate: Estimate {
            writes,
            reads,
            minutes,
            upload_bytes,
        },
    }
}

fn md_escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The runbook of a loaded snapshot: the manifest's, plus what only the documents tell (data
/// connections that log in with a user name need their password, which Qlik never returns).
pub fn runbook_of(data: &crate::SnapshotData) -> Runbook {
    let mut r = runbook(&data.manifest, &data.info.short_id);
    for e in &data.entries {
        if e.kind.name == "data-connections"
            && !e.str_at("/qUsername").is_empty()
            && e.attrs().get("qSeparateCredentials") != Some(&serde_json::Value::Bool(true))
        {
            let line = SecretLine {
                kind: e.kind.name.to_string(),
                id: e.id.clone(),
                name: e.name.clone(),
                fields: vec!["/qPassword".into()],
            };
            match r
                .secrets
                .iter_mut()
                .find(|s| s.kind == line.kind && s.id == line.id)
            {
                Some(s) if !s.fields.contains(&line.fields[0]) => {
                    s.fields.push(line.fields[0].clone())
                }
                Some(_) => {}
                None => r.secrets.push(line),
            }
        }
    }
    r
}

/// The runbook as Markdown.
pub fn markdown(r: &Runbook) -> String {
    let mut o = format!(
        "# Restore runbook: {} — snapshot {}\n\nTaken {} (run {}). Restore with:\n\n```sh\nqcb restore {} --plan      # see every action first; writes nothing\nqcb restore {} --secrets secrets.toml --yes\n```\n\n",
        r.tenant, r.snapshot, r.taken_at, r.status, r.snapshot, r.snapshot
    );
    o.push_str(&format!(
        "Estimated restore time: about {:.0} minutes at Qlik's rate limits ({} write calls at 100 per minute, {} MiB of apps to upload; upload bandwidth comes on top).\n\n",
        r.estimate.minutes.ceil(),
        r.estimate.writes,
        r.estimate.upload_bytes / (1024 * 1024)
    ));
    o.push_str("## What comes back, kind by kind (in restore order)\n\n| kind | items | how | with secrets | notes |\n|---|---:|---|---:|---|\n");
    for k in &r.kinds {
        let how = match k.restore {
            Restore::Direct => "direct",
            Restore::Recreate => "recreated",
            Restore::Reference => "by hand (reference)",
        };
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            k.kind,
            k.items,
            how,
            k.with_secrets,
            md_escape(&k.note)
        ));
    }
    o.push_str("\n## Secrets to enter again\n\nBackups never hold secrets. Put these in a secrets file (`--secrets`, TOML: `[<kind>.\"<name or ID>\"]` then `\"<field>\" = \"<value>\"`); whatever is missing is created without it (webhooks disabled) and listed again after the restore.\n\n");
    if r.secrets.is_empty() {
        o.push_str("None.\n");
    }
    for s in &r.secrets {
        o.push_str(&format!(
            "- {} **{}** (`{}`): {}\n",
            s.kind,
            md_escape(&s.name),
            s.id,
            s.fields
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if !r.credentials_in_text.is_empty() {
        o.push_str("\n## Credentials found inside text\n\nThey were cut out of the stored copy. Move them into a connection or a secret store; until then enter them again after a restore.\n\n");
        for s in &r.credentials_in_text {
            o.push_str(&format!(
                "- {} **{}**: {}\n",
                s.kind,
                md_escape(&s.name),
                s.fields.join("; ")
            ));
        }
    }
    o.push_str("\n## New IDs that consumers must learn\n\n");
    for n in &r.new_ids {
        o.push_str(&format!(
            "- {} ({}): {}\n",
            n.kind, n.items, n.who_must_learn_it
        ));
    }
    o.push_str("\nData connections keep their IDs, so load scripts keep working. Apps come back without data: reload them after the restore.\n");
    o.push_str("\n## Kept only for the record\n\n");
    for k in r.kinds.iter().filter(|k| k.restore == Restore::Reference) {
        o.push_str(&format!(
            "- {} ({}): {}\n",
            k.kind,
            k.items,
            md_escape(&k.note)
        ));
    }
    if !r.not_in_snapshot.is_empty() {
        o.push_str("\n## Not in this snapshot (failed during the backup)\n\n");
        for s in &r.not_in_snapshot {
            o.push_str(&format!(
                "- {} **{}** (`{}`): {}\n",
                s.kind,
                md_escape(&s.name),
                s.id,
                md_escape(&s.fields.join(" "))
            ));
        }
    }
    if !r.not_covered.is_empty() {
        o.push_str("\n## Not covered by backups at all\n\n");
        for n in &r.not_covered {
            o.push_str(&format!("- {}: {}\n", n.kind, md_escape(&n.reason)));
        }
    }
    o.push_str(&format!("\n## Restore order\n\n{}\n", r.order.join(" → ")));
    o
}

/// The report of a restore as Markdown: what was done, skipped, left in conflict, failed,
/// and what is left.
pub fn report_markdown(report: &RestoreReport) -> String {
    let mut o = format!(
        "# Restore of snapshot {} ({}) into {}\n\nStarted {}, finished {}: {}.\n\n",
        report.snapshot,
        report.source_tenant,
        report.target_tenant,
        report.started_at,
        report.finished_at,
        report.totals()
    );
    let per = report.per_kind();
    o.push_str(
        "| kind | done | skipped | conflicts | manual | failed |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (k, c) in per {
        o.push_str(&format!(
            "| {k} | {} | {} | {} | {} | {} |\n",
            c[0], c[1], c[2], c[3], c[4]
        ));
    }
    o.push_str("\n## Left to do\n\n");
    if report.manual.is_empty() {
        o.push_str("Nothing.\n");
    }
    for m in &report.manual {
        o.push_str(&format!(
            "- [ ] {} **{}** (`{}`): {}\n",
            m.kind,
            md_escape(&m.name),
            m.id,
            md_escape(&m.what)
        ));
    }
    if !report.unmapped.is_empty() {
        o.push_str("\n## Unmapped references\n\nThese users, groups and spaces are neither in the target nor restored; what refers to them was restored without them. Map them with `--map` and restore again, or set them by hand.\n\n");
        for u in &report.unmapped {
            o.push_str(&format!(
                "- {} `{}` ({}), referenced by {}\n",
                u.kind,
                u.id,
                md_escape(&u.label),
                md_escape(&u.referenced_by.join(", "))
            ));
        }
    }
    outcome_section(
        &mut o,
        report,
        Outcome::Conflict,
        "Conflicts left in place",
        "The target holds an item of the same name that differs; it was kept as it is.",
    );
    outcome_section(
        &mut o,
        report,
        Outcome::Failed,
        "Failed",
        "Run the same restore again once the cause is fixed: what is already there is skipped.",
    );
    if !report.id_map.is_empty() {
        o.push_str("\n## New IDs\n\n| kind | old | new |\n|---|---|---|\n");
        for (k, m) in &report.id_map {
            for (old, new) in m {
                o.push_str(&format!("| {k} | `{old}` | `{new}` |\n"));
            }
        }
    }
    o
}

/// A Markdown section listing the items that ended with `outcome` (none: no section).
fn outcome_section(
    o: &mut String,
    report: &RestoreReport,
    outcome: Outcome,
    title: &str,
    intro: &str,
) {
    let items: Vec<_> = report
        .results
        .iter()
        .filter(|r| r.outcome == outcome)
        .collect();
    if items.is_empty() {
        return;
    }
    o.push_str(&format!("\n## {title}\n\n{intro}\n\n"));
    for r in items {
        o.push_str(&format!(
            "- {} **{}** (`{}`): {}\n",
            r.kind,
            md_escape(&r.name),
            r.id,
            md_escape(&r.detail)
        ));
    }
}
