//! Run reports: one self-contained HTML page (inline CSS, no scripts, no external assets) and a
//! Markdown text, from a run's manifest and the previous one — summary, per-kind table,
//! failures, what is not covered, what must be entered again on restore, and what changed.
//!
//! Every text from the manifest is escaped: the HTML through minijinja's auto-escaping, the
//! Markdown by [`md`]. Manifests hold no secret values (only where they were), and neither does
//! a report.

use std::collections::{BTreeMap, BTreeSet};

use qcb_backup::{Counts, Item, ItemStatus, Manifest, NotCovered};
use serde::Serialize;

use crate::anomaly::Anomaly;

/// How many added or removed items a report lists before "and N more".
const LIST_LIMIT: usize = 500;

/// An item, as a report names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemRef {
    pub kind: String,
    pub id: String,
    pub name: String,
}

/// A kind whose count changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KindChange {
    pub kind: String,
    pub before: u64,
    pub after: u64,
    pub delta: i64,
}

/// What changed between the previous snapshot and this one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Changes {
    /// The previous snapshot's ID (empty when its manifest did not say).
    pub previous_snapshot: String,
    pub previous_started_at: String,
    /// Kinds whose count changed, by name.
    pub kinds: Vec<KindChange>,
    /// Items in this snapshot that the previous one did not have, by kind and name.
    pub added: Vec<ItemRef>,
    /// Items of the previous snapshot that are gone, by kind and name.
    pub removed: Vec<ItemRef>,
    /// Kinds that could not be listed this run: their items are not counted as removed.
    pub unknown: Vec<String>,
}

fn item_ref(i: &Item) -> ItemRef {
    ItemRef {
        kind: i.kind.clone(),
        id: i.id.clone(),
        name: i.name.clone(),
    }
}

/// Items by (kind, ID), and the kinds that failed to list (a failed item without an ID).
fn inventory(m: &Manifest) -> (BTreeMap<(&str, &str), &Item>, BTreeSet<&str>) {
    let mut items = BTreeMap::new();
    let mut unlisted = BTreeSet::new();
    for i in &m.items {
        if i.id.is_empty() {
            if i.status == ItemStatus::Failed {
                unlisted.insert(i.kind.as_str());
            }
            continue;
        }
        items.insert((i.kind.as_str(), i.id.as_str()), i);
    }
    (items, unlisted)
}

/// Compares two manifests of a tenant: counts per kind, items added and removed.
pub fn changes(current: &Manifest, previous: &Manifest) -> Changes {
    let (now, unlisted) = inventory(current);
    let (before, _) = inventory(previous);
    let count = |m: &BTreeMap<(&str, &str), &Item>| {
        let mut c: BTreeMap<String, u64> = BTreeMap::new();
        for (kind, _) in m.keys() {
            *c.entry(kind.to_string()).or_default() += 1;
        }
        c
    };
    let (a, b) = (count(&before), count(&now));
    let kinds = a
        .keys()
        .chain(b.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|k| !unlisted.contains(k.as_str()))
        .filter_map(|k| {
            let (x, y) = (
                a.get(k).copied().unwrap_or(0),
                b.get(k).copied().unwrap_or(0),
            );
            (x != y).then(|| KindChange {
                kind: k.clone(),
                before: x,
                after: y,
                delta: y as i64 - x as i64,
            })
        })
        .collect();
    let by_name = |x: &ItemRef, y: &ItemRef| {
        (x.kind.as_str(), x.name.to_lowercase(), x.id.as_str()).cmp(&(
            y.kind.as_str(),
            y.name.to_lowercase(),
            y.id.as_str(),
        ))
    };
    let mut added: Vec<ItemRef> = now
        .iter()
        .filter(|(k, _)| !before.contains_key(*k))
        .map(|(_, i)| item_ref(i))
        .collect();
    added.sort_by(by_name);
    let mut removed: Vec<ItemRef> = before
        .iter()
        .filter(|(k, _)| !now.contains_key(*k) && !unlisted.contains(k.0))
        .map(|(_, i)| item_ref(i))
        .collect();
    removed.sort_by(by_name);
    Changes {
        previous_snapshot: previous.snapshot.clone(),
        previous_started_at: previous.started_at.clone(),
        kinds,
        added,
        removed,
        unknown: unlisted.iter().map(|k| k.to_string()).collect(),
    }
}

// ---------------------------------------------------------------------------------------------
// What a report shows, computed once for both formats.

#[derive(Serialize)]
struct KindRow {
    kind: String,
    total: u64,
    backed_up: u64,
    unchanged: u64,
    failed: u64,
    previous: Option<u64>,
    delta: Option<i64>,
}

#[derive(Serialize)]
struct FailureRow {
    kind: String,
    id: String,
    name: String,
    error: String,
}

#[derive(Serialize)]
struct ReentryRow {
    kind: String,
    id: String,
    name: String,
    restore: String,
    /// JSON pointers of the redacted fields.
    fields: Vec<String>,
    /// Credentials cut from free text: where and what they looked like.
    in_text: Vec<String>,
}

#[derive(Serialize)]
struct NoteRow {
    kind: String,
    id: String,
    name: String,
    note: String,
}

#[derive(Serialize)]
struct Listed {
    items: Vec<ItemRef>,
    more: usize,
}

fn listed(items: &[ItemRef]) -> Listed {
    Listed {
        items: items.iter().take(LIST_LIMIT).cloned().collect(),
        more: items.len().saturating_sub(LIST_LIMIT),
    }
}

#[derive(Serialize)]
struct ChangesView {
    previous_snapshot: String,
    previous_started_at: String,
    kinds: Vec<KindChange>,
    added_count: usize,
    removed_count: usize,
    added: Listed,
    removed: Listed,
    unknown: Vec<String>,
}

#[derive(Serialize)]
struct View {
    tenant: String,
    tenant_url: String,
    snapshot: String,
    snapshot_short: String,
    status: &'static str,
    started_at: String,
    finished_at: String,
    duration: String,
    tool_version: String,
    full: bool,
    totals: Counts,
    kinds: Vec<KindRow>,
    failures: Vec<FailureRow>,
    not_covered: Vec<NotCovered>,
    reentry: Vec<ReentryRow>,
    reentry_fields: usize,
    script_apps: usize,
    script_findings: usize,
    notes: Vec<NoteRow>,
    anomalies: Vec<Anomaly>,
    api_requests: u64,
    api_throttled: u64,
    api_retries: u64,
    api_bytes: String,
    changes: Option<ChangesView>,
}

fn duration(start: &str, end: &str) -> String {
    let (Ok(a), Ok(b)) = (
        chrono::DateTime::parse_from_rfc3339(start),
        chrono::DateTime::parse_from_rfc3339(end),
    ) else {
        return String::new();
    };
    let s = (b - a).num_seconds().max(0);
    match s {
        s if s >= 3600 => format!("{}h {:02}m {:02}s", s / 3600, (s % 3600) / 60, s % 60),
        s if s >= 60 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{s}s"),
    }
}

/// `2026-11-27 01:10:30 UTC` from an RFC 3339 time; anything else as it is.
fn show_time(t: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(t)
        .map(|t| {
            t.with_timezone(&chrono::Utc)
                .format("%Y-%m-%d %H:%M:%S UTC")
                .to_string()
        })
        .unwrap_or_else(|_| t.to_string())
}

fn human_bytes(n: u64) -> String {
    const UNITS: &[&str] = &["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn view(current: &Manifest, previous: Option<&Manifest>, anomalies: &[Anomaly]) -> View {
    let mut totals = Counts::default();
    for c in current.counts.values() {
        totals.total += c.total;
        totals.backed_up += c.backed_up;
        totals.unchanged += c.unchanged;
        totals.failed += c.failed;
    }
    let changes = previous.map(|p| changes(current, p));
    let previous_counts = previous.map(|p| &p.counts);
    let kinds = current
        .counts
        .iter()
        .map(|(kind, c)| {
            let prev = previous_counts.map(|pc| pc.get(kind).map(|x| x.total).unwrap_or(0));
            KindRow {
                kind: kind.clone(),
                total: c.total,
                backed_up: c.backed_up,
                unchanged: c.unchanged,
                failed: c.failed,
                previous: prev,
                delta: prev.map(|p| c.total as i64 - p as i64),
            }
        })
        .collect();
    let failures = current
        .items
        .iter()
        .filter(|i| i.status == ItemStatus::Failed)
        .map(|i| FailureRow {
            kind: i.kind.clone(),
            id: i.id.clone(),
            name: i.name.clone(),
            error: i
                .error
                .clone()
                .unwrap_or_else(|| "unknown error".to_string()),
        })
        .collect();
    let (mut script_apps, mut script_findings) = (0, 0);
    let mut reentry = Vec::new();
    for i in &current.items {
        let (scripts, text): (Vec<_>, Vec<_>) = i.findings.iter().partition(|f| f.at == "script");
        if !scripts.is_empty() {
            script_apps += 1;
            script_findings += scripts.len();
        }
        if i.redacted.is_empty() && text.is_empty() {
            continue;
        }
        reentry.push(ReentryRow {
            kind: i.kind.clone(),
            id: i.id.clone(),
            name: i.name.clone(),
            restore: serde_json::to_value(i.restore)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            fields: i.redacted.clone(),
            in_text: text
                .iter()
                .map(|f| format!("{} (line {}): {}", f.at, f.line, f.pattern))
                .collect(),
        });
    }
    let reentry_fields = reentry
        .iter()
        .map(|r| r.fields.len() + r.in_text.len())
        .sum();
    let notes = current
        .items
        .iter()
        .flat_map(|i| {
            i.notes.iter().map(move |n| NoteRow {
                kind: i.kind.clone(),
                id: i.id.clone(),
                name: i.name.clone(),
                note: n.clone(),
            })
        })
        .collect();
    View {
        tenant: current.tenant.hostname.clone(),
        tenant_url: current.tenant.url.clone(),
        snapshot: current.snapshot.clone(),
        snapshot_short: current.snapshot.chars().take(8).collect(),
        status: current.status.as_str(),
        started_at: show_time(&current.started_at),
        finished_at: show_time(&current.finished_at),
        duration: duration(&current.started_at, &current.finished_at),
        tool_version: current.tool_version.clone(),
        full: current.full,
        totals,
        kinds,
        failures,
        not_covered: current.not_covered.clone(),
        reentry,
        reentry_fields,
        script_apps,
        script_findings,
        notes,
        anomalies: anomalies.to_vec(),
        api_requests: current.api.requests,
        api_throttled: current.api.throttled,
        api_retries: current.api.retries,
        api_bytes: human_bytes(current.api.bytes),
        changes: changes.map(|c| ChangesView {
            added_count: c.added.len(),
            removed_count: c.removed.len(),
            added: listed(&c.added),
            removed: listed(&c.removed),
            previous_snapshot: c.previous_snapshot.chars().take(8).collect(),
            previous_started_at: show_time(&c.previous_started_at),
            kinds: c.kinds,
            unknown: c.unknown,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// HTML

/// The report as one self-contained HTML page.
pub fn html(current: &Manifest, previous: Option<&Manifest>) -> String {
    html_with_anomalies(current, previous, &[])
}

/// The report as one self-contained HTML page, with the anomalies found against the previous
/// snapshot.
pub fn html_with_anomalies(
    current: &Manifest,
    previous: Option<&Manifest>,
    anomalies: &[Anomaly],
) -> String {
    let v = view(current, previous, anomalies);
    let mut env = minijinja::Environment::new();
    // The `.html` name turns on HTML auto-escaping for every value.
    if let Err(e) = env.add_template("report.html", HTML_TEMPLATE) {
        return fallback_html(&v, &e);
    }
    match env.get_template("report.html").and_then(|t| {
        t.render(minijinja::context! { r => minijinja::Value::from(minijinja::value::Serde(&v)) })
    }) {
        Ok(s) => s,
        Err(e) => fallback_html(&v, &e),
    }
}

/// A template error is a bug in qcb; the run's report still says what matters.
fn fallback_html(v: &View, e: &minijinja::Error) -> String {
    format!(
        "<!doctype html><meta charset=\"utf-8\"><title>qcb report</title><pre>{}</pre><p>report template error: {}</p>",
        escape_html(&format!(
            "{} {} {} failed={}",
            v.tenant, v.snapshot_short, v.status, v.totals.failed
        )),
        escape_html(&e.to_string())
    )
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

const HTML_TEMPLATE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>qcb report: {{ r.tenant }} {{ r.status }} {{ r.started_at }}</title>
<style>
:root { --fg:#1d2330; --muted:#5c6576; --line:#dfe3ea; --bg:#f6f7f9; --ok:#17803d; --warn:#a15c00; --bad:#c0262d; --accent:#1f5fbf; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg); font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif; }
main { max-width:1100px; margin:0 auto; padding:24px 20px 48px; }
header { display:flex; flex-wrap:wrap; align-items:center; gap:12px 16px; margin-bottom:8px; }
h1 { font-size:22px; margin:0; font-weight:650; }
h2 { font-size:17px; margin:28px 0 10px; padding-bottom:6px; border-bottom:1px solid var(--line); }
h3 { font-size:14px; margin:16px 0 6px; }
.badge { display:inline-block; padding:3px 10px; border-radius:999px; font-weight:650; font-size:12px; letter-spacing:.04em; text-transform:uppercase; color:#fff; }
.badge.success { background:var(--ok); } .badge.partial { background:var(--warn); } .badge.failed { background:var(--bad); }
.meta { color:var(--muted); margin:0 0 16px; }
.meta code { color:var(--fg); }
.cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:10px; margin:16px 0; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; }
.card .n { font-size:22px; font-weight:650; font-variant-numeric:tabular-nums; }
.card .l { color:var(--muted); font-size:12px; }
.card.bad .n { color:var(--bad); }
table { width:100%; border-collapse:collapse; background:#fff; border:1px solid var(--line); border-radius:8px; overflow:hidden; }
th, td { padding:6px 10px; text-align:left; vertical-align:top; border-bottom:1px solid var(--line); }
th { background:#eef1f5; font-weight:600; font-size:12px; color:var(--muted); text-transform:uppercase; letter-spacing:.03em; }
tr:last-child td { border-bottom:none; }
tbody tr:nth-child(even) { background:#fafbfc; }
td:first-child { white-space:nowrap; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; white-space:nowrap; }
td.bad { color:var(--bad); font-weight:650; }
.up { color:var(--ok); } .down { color:var(--bad); }
code, .id { font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace; font-size:12px; word-break:break-all; }
.id { color:var(--muted); }
.err { color:var(--bad); }
ul.plain { margin:4px 0; padding-left:18px; }
.note { color:var(--muted); }
.box { background:#fff; border:1px solid var(--line); border-left:4px solid var(--accent); border-radius:6px; padding:10px 14px; margin:10px 0; }
.box.bad { border-left-color:var(--bad); } .box.warn { border-left-color:var(--warn); }
details { margin:8px 0; } summary { cursor:pointer; font-weight:600; }
footer { margin-top:32px; color:var(--muted); font-size:12px; }
</style>
</head>
<body>
<main>
<header>
<h1>Backup report: {{ r.tenant }}</h1>
<span class="badge {{ r.status }}" id="status">{{ r.status }}</span>
</header>
<p class="meta">
{% if r.snapshot %}Snapshot <code title="{{ r.snapshot }}">{{ r.snapshot_short }}</code> · {% endif %}
started {{ r.started_at }}{% if r.duration %} · took {{ r.duration }}{% endif %}
{% if r.full %} · every app exported{% endif %}
· <span class="id">{{ r.tenant_url }}</span>
</p>

<section id="summary">
<div class="cards">
<div class="card"><div class="n">{{ r.totals.total }}</div><div class="l">items</div></div>
<div class="card"><div class="n">{{ r.totals.backed_up }}</div><div class="l">backed up</div></div>
<div class="card"><div class="n">{{ r.totals.unchanged }}</div><div class="l">unchanged</div></div>
<div class="card{% if r.totals.failed %} bad{% endif %}"><div class="n">{{ r.totals.failed }}</div><div class="l">failed</div></div>
<div class="card"><div class="n">{{ r.reentry_fields }}</div><div class="l">secrets to enter on restore</div></div>
<div class="card"><div class="n">{{ r.not_covered|length }}</div><div class="l">kinds not covered</div></div>
</div>
<p class="meta">API: {{ r.api_requests }} requests, {{ r.api_throttled }} throttled, {{ r.api_retries }} retried, {{ r.api_bytes }} read.</p>
</section>

{% if r.anomalies %}
<section id="anomalies">
<h2>Anomalies since the previous snapshot ({{ r.anomalies|length }})</h2>
{% for a in r.anomalies %}<div class="box bad">{{ a.message }}</div>
{% endfor %}
</section>
{% endif %}

{% if r.failures %}
<section id="failures">
<h2>Failed items ({{ r.failures|length }})</h2>
<table>
<thead><tr><th>Kind</th><th>Item</th><th>Reason</th></tr></thead>
<tbody>
{% for f in r.failures %}<tr><td>{{ f.kind }}</td><td>{% if f.name %}{{ f.name }}{% if f.id %}<br><span class="id">{{ f.id }}</span>{% endif %}{% elif f.id %}<code>{{ f.id }}</code>{% else %}(the whole kind){% endif %}</td><td class="err">{{ f.error }}</td></tr>
{% endfor %}
</tbody>
</table>
</section>
{% endif %}

<section id="kinds">
<h2>Per kind</h2>
<table>
<thead><tr><th>Kind</th><th class="num">Total</th><th class="num">Backed up</th><th class="num">Unchanged</th><th class="num">Failed</th>{% if r.changes %}<th class="num">Previous</th><th class="num">Change</th>{% endif %}</tr></thead>
<tbody>
{% for k in r.kinds %}<tr><td>{{ k.kind }}</td><td class="num">{{ k.total }}</td><td class="num">{{ k.backed_up }}</td><td class="num">{{ k.unchanged }}</td><td class="num{% if k.failed %} bad{% endif %}">{{ k.failed }}</td>{% if r.changes %}<td class="num">{{ k.previous }}</td><td class="num {% if k.delta > 0 %}up{% elif k.delta < 0 %}down{% endif %}">{% if k.delta > 0 %}+{% endif %}{% if k.delta != 0 %}{{ k.delta }}{% endif %}</td>{% endif %}</tr>
{% endfor %}
</tbody>
<tfoot><tr><th>All</th><th class="num">{{ r.totals.total }}</th><th class="num">{{ r.totals.backed_up }}</th><th class="num">{{ r.totals.unchanged }}</th><th class="num">{{ r.totals.failed }}</th>{% if r.changes %}<th></th><th></th>{% endif %}</tr></tfoot>
</table>
</section>

<section id="changes">
<h2>Changes since the previous snapshot</h2>
{% if r.changes %}
{% set c = r.changes %}
<p class="meta">Previous snapshot {% if c.previous_snapshot %}<code>{{ c.previous_snapshot }}</code>, {% endif %}started {{ c.previous_started_at }}: {{ c.added_count }} added, {{ c.removed_count }} removed.</p>
{% if c.kinds %}
<table>
<thead><tr><th>Kind</th><th class="num">Before</th><th class="num">Now</th><th class="num">Change</th></tr></thead>
<tbody>
{% for k in c.kinds %}<tr><td>{{ k.kind }}</td><td class="num">{{ k.before }}</td><td class="num">{{ k.after }}</td><td class="num {% if k.delta > 0 %}up{% else %}down{% endif %}">{% if k.delta > 0 %}+{% endif %}{{ k.delta }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p>No kind's count changed.</p>{% endif %}
{% for title, l in [("Added", c.added), ("Removed", c.removed)] %}{% if l.items %}
<details{% if l.items|length <= 20 %} open{% endif %}><summary>{{ title }} ({{ l.items|length + l.more }})</summary>
<ul class="plain">
{% for i in l.items %}<li>{{ i.kind }}: {{ i.name or i.id }} <span class="id">{{ i.id }}</span></li>
{% endfor %}{% if l.more %}<li class="note">… and {{ l.more }} more</li>{% endif %}
</ul>
</details>
{% endif %}{% endfor %}
{% if c.unknown %}<p class="note">Not compared, because they could not be listed this run: {{ c.unknown|join(", ") }}.</p>{% endif %}
{% else %}
<p class="note">This is the tenant's first snapshot: there is nothing to compare with.</p>
{% endif %}
</section>

<section id="reentry">
<h2>To enter again on restore</h2>
{% if r.reentry %}
<p>Secrets are never stored. These fields were replaced by a marker (or cut from free text) and must be entered again by a person after a restore.</p>
<table>
<thead><tr><th>Kind</th><th>Item</th><th>Restore</th><th>Fields</th></tr></thead>
<tbody>
{% for e in r.reentry %}<tr><td>{{ e.kind }}</td><td>{% if e.name %}{{ e.name }}<br><span class="id">{{ e.id }}</span>{% else %}<code>{{ e.id }}</code>{% endif %}</td><td>{{ e.restore }}</td><td>{% for f in e.fields %}<code>{{ f }}</code>{% if not loop.last %}, {% endif %}{% endfor %}{% if e.in_text %}{% if e.fields %}<br>{% endif %}in text: {% for t in e.in_text %}<code>{{ t }}</code>{% if not loop.last %}, {% endif %}{% endfor %}{% endif %}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p>Nothing: no secret field was redacted.</p>{% endif %}
{% if r.script_findings %}<div class="box warn">{{ r.script_findings }} credential{% if r.script_findings != 1 %}s{% endif %} in the load scripts of {{ r.script_apps }} app{% if r.script_apps != 1 %}s{% endif %}: kept inside the app exports, so they come back with the apps. Move them into data connections.</div>{% endif %}
</section>

<section id="not-covered">
<h2>Not covered</h2>
{% if r.not_covered %}
<table>
<thead><tr><th>Kind</th><th>Why</th></tr></thead>
<tbody>
{% for n in r.not_covered %}<tr><td>{{ n.kind }}</td><td>{{ n.reason }}</td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p>Everything qcb knows of was covered.</p>{% endif %}
</section>

<section id="runbook">
<h2>Restore readiness</h2>
<p>What a restore of this snapshot gives back, in which order, how long it takes and what a person must do: <code>qcb runbook {% if r.snapshot_short %}{{ r.snapshot_short }}{% else %}latest --host {{ r.tenant }}{% endif %}</code> (Markdown, or <code>--json</code>). Try a restore without writing: <code>qcb restore {% if r.snapshot_short %}{{ r.snapshot_short }}{% else %}latest{% endif %} --plan</code>.</p>
</section>

{% if r.notes %}
<section id="notes">
<h2>Notes ({{ r.notes|length }})</h2>
<ul class="plain">
{% for n in r.notes %}<li>{{ n.kind }} {{ n.name or n.id }} <span class="id">{{ n.id }}</span>: {{ n.note }}</li>
{% endfor %}
</ul>
</section>
{% endif %}

<footer>Written by qcb {{ r.tool_version }} from the snapshot's manifest. Finished {{ r.finished_at }}.</footer>
</main>
</body>
</html>
"##;

// ---------------------------------------------------------------------------------------------
// Markdown

/// Escapes text for Markdown (and the HTML a Markdown renderer lets through).
fn md(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '#' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn named(name: &str, id: &str) -> String {
    match (name.is_empty(), id.is_empty()) {
        (false, false) if name != id => format!("{} (`{}`)", md(name), id.replace('`', "'")),
        (false, _) => md(name),
        (true, false) => format!("`{}`", id.replace('`', "'")),
        (true, true) => "—".to_string(),
    }
}

/// The report as Markdown.
pub fn markdown(current: &Manifest, previous: Option<&Manifest>) -> String {
    markdown_with_anomalies(current, previous, &[])
}

/// The report as Markdown, with the anomalies found against the previous snapshot.
pub fn markdown_with_anomalies(
    current: &Manifest,
    previous: Option<&Manifest>,
    anomalies: &[Anomaly],
) -> String {
    let v = view(current, previous, anomalies);
    let mut o = format!("# Backup report: {}\n\n", md(&v.tenant));
    o.push_str(&format!("**Status: {}**", v.status));
    if !v.snapshot.is_empty() {
        o.push_str(&format!(" · snapshot `{}`", v.snapshot_short));
    }
    o.push_str(&format!(" · started {}", md(&v.started_at)));
    if !v.duration.is_empty() {
        o.push_str(&format!(" · took {}", v.duration));
    }
    if v.full {
        o.push_str(" · every app exported");
    }
    o.push_str(&format!(" · {}\n\n", md(&v.tenant_url)));
    let t = &v.totals;
    o.push_str(&format!(
        "{} items: {} backed up, {} unchanged, {} failed. {} secrets to enter again on restore; {} kinds not covered.\n\n",
        t.total, t.backed_up, t.unchanged, t.failed, v.reentry_fields, v.not_covered.len()
    ));
    o.push_str(&format!(
        "API: {} requests, {} throttled, {} retried, {} read.\n",
        v.api_requests, v.api_throttled, v.api_retries, v.api_bytes
    ));

    if !v.anomalies.is_empty() {
        o.push_str(&format!(
            "\n## Anomalies since the previous snapshot ({})\n\n",
            v.anomalies.len()
        ));
        for a in &v.anomalies {
            o.push_str(&format!("- {}\n", md(&a.message)));
        }
    }

    if !v.failures.is_empty() {
        o.push_str(&format!("\n## Failed items ({})\n\n", v.failures.len()));
        o.push_str("| Kind | Item | Reason |\n|---|---|---|\n");
        for f in &v.failures {
            o.push_str(&format!(
                "| {} | {} | {} |\n",
                md(&f.kind),
                named(&f.name, &f.id),
                md(&f.error)
            ));
        }
    }

    o.push_str("\n## Per kind\n\n");
    let with_prev = v.changes.is_some();
    o.push_str("| Kind | Total | Backed up | Unchanged | Failed |");
    o.push_str(if with_prev {
        " Previous | Change |\n|---|--:|--:|--:|--:|--:|--:|\n"
    } else {
        "\n|---|--:|--:|--:|--:|\n"
    });
    for k in &v.kinds {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} |",
            md(&k.kind),
            k.total,
            k.backed_up,
            k.unchanged,
            k.failed
        ));
        if let (Some(p), Some(d)) = (k.previous, k.delta) {
            o.push_str(&format!(" {p} | {} |", signed(d)));
        }
        o.push('\n');
    }

    o.push_str("\n## Changes since the previous snapshot\n\n");
    match &v.changes {
        None => {
            o.push_str("This is the tenant's first snapshot: there is nothing to compare with.\n")
        }
        Some(c) => {
            o.push_str(&format!(
                "Previous snapshot {}started {}: {} added, {} removed.\n\n",
                if c.previous_snapshot.is_empty() {
                    String::new()
                } else {
                    format!("`{}`, ", c.previous_snapshot)
                },
                md(&c.previous_started_at),
                c.added_count,
                c.removed_count
            ));
            if c.kinds.is_empty() {
                o.push_str("No kind's count changed.\n");
            } else {
                o.push_str("| Kind | Before | Now | Change |\n|---|--:|--:|--:|\n");
                for k in &c.kinds {
                    o.push_str(&format!(
                        "| {} | {} | {} | {} |\n",
                        md(&k.kind),
                        k.before,
                        k.after,
                        signed(k.delta)
                    ));
                }
            }
            for (title, l) in [("Added", &c.added), ("Removed", &c.removed)] {
                if l.items.is_empty() {
                    continue;
                }
                o.push_str(&format!("\n### {title} ({})\n\n", l.items.len() + l.more));
                for i in &l.items {
                    o.push_str(&format!("- {}: {}\n", md(&i.kind), named(&i.name, &i.id)));
                }
                if l.more > 0 {
                    o.push_str(&format!("- … and {} more\n", l.more));
                }
            }
            if !c.unknown.is_empty() {
                o.push_str(&format!(
                    "\nNot compared, because they could not be listed this run: {}.\n",
                    md(&c.unknown.join(", "))
                ));
            }
        }
    }

    o.push_str("\n## To enter again on restore\n\n");
    if v.reentry.is_empty() {
        o.push_str("Nothing: no secret field was redacted.\n");
    } else {
        o.push_str("Secrets are never stored. These fields were replaced by a marker (or cut from free text) and must be entered again by a person after a restore.\n\n");
        o.push_str("| Kind | Item | Restore | Fields |\n|---|---|---|---|\n");
        for e in &v.reentry {
            let mut fields: Vec<String> = e.fields.iter().map(|f| code(f)).collect();
            fields.extend(e.in_text.iter().map(|t| format!("in text: {}", code(t))));
            o.push_str(&format!(
                "| {} | {} | {} | {} |\n",
                md(&e.kind),
                named(&e.name, &e.id),
                e.restore,
                fields.join(", ")
            ));
        }
    }
    if v.script_findings > 0 {
        o.push_str(&format!(
            "\n{} credentials in the load scripts of {} apps: kept inside the app exports, so they come back with the apps. Move them into data connections.\n",
            v.script_findings, v.script_apps
        ));
    }

    o.push_str("\n## Not covered\n\n");
    if v.not_covered.is_empty() {
        o.push_str("Everything qcb knows of was covered.\n");
    } else {
        o.push_str("| Kind | Why |\n|---|---|\n");
        for n in &v.not_covered {
            o.push_str(&format!("| {} | {} |\n", md(&n.kind), md(&n.reason)));
        }
    }

    let snap = if v.snapshot_short.is_empty() {
        format!("latest --host {}", v.tenant)
    } else {
        v.snapshot_short.clone()
    };
    o.push_str(&format!(
        "\n## Restore readiness\n\nWhat a restore of this snapshot gives back, in which order, how long it takes and what a person must do: `qcb runbook {snap}`. Try a restore without writing: `qcb restore {snap} --plan`.\n"
    ));

    if !v.notes.is_empty() {
        o.push_str(&format!("\n## Notes ({})\n\n", v.notes.len()));
        for n in &v.notes {
            o.push_str(&format!(
                "- {} {}: {}\n",
                md(&n.kind),
                named(&n.name, &n.id),
                md(&n.note)
            ));
        }
    }
    o.push_str(&format!(
        "\n---\nWritten by qcb {} from the snapshot's manifest. Finished {}.\n",
        md(&v.tool_version),
        md(&v.finished_at)
    ));
    o
}

fn signed(d: i64) -> String {
    match d {
        0 => String::new(),
        d if d > 0 => format!("+{d}"),
        d => d.to_string(),
    }
}

/// Inline code: a pointer or pattern, with backticks and pipes made harmless.
fn code(s: &str) -> String {
    format!("`{}`", s.replace('`', "'").replace('|', "\\|"))
}
