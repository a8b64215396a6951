//! The manifest of a run (DESIGN.md §5, schema `qcb.manifest/v1`): what was backed up, what
//! was unchanged, what failed and why, what is not covered at all, what was redacted, and how
//! each item comes back.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const SCHEMA: &str = "qcb.manifest/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Success,
    Partial,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Success => "success",
            RunStatus::Partial => "partial",
            RunStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    BackedUp,
    Unchanged,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TenantInfo {
    pub url: String,
    pub id: String,
    pub hostname: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Counts {
    pub total: u64,
    pub backed_up: u64,
    pub unchanged: u64,
    pub failed: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub path: String,
    pub status: ItemStatus,
    pub bytes: u64,
    pub error: Option<String>,
    /// JSON pointers of the fields replaced by a redaction marker.
    pub redacted: Vec<String>,
    /// Credentials found in free text (where, what it looked like; never the value).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<qcb_catalog::scan::Finding>,
    pub restore: qcb_catalog::Restore,
    /// What a person should know that is not a failure (an app's load script Qlik would not
    /// show, so it was not scanned).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// The files an app's item stands for (`app.json`, `app.qvf`, `script.qvs`), with their
    /// sizes and times as stored: the next run tells unchanged apps by them without walking
    /// the snapshot's folders. Empty for other kinds, and in manifests of earlier versions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<StoredFile>,
}

/// A file of the snapshot, as an item's entry in the manifest names it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct StoredFile {
    pub path: String,
    pub size: u64,
    pub mtime: chrono::DateTime<chrono::Utc>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct NotCovered {
    pub kind: String,
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    /// The snapshot's ID. Empty in the copy stored inside the snapshot, whose ID depends on it.
    pub snapshot: String,
    pub tool_version: String,
    pub tenant: TenantInfo,
    pub started_at: String,
    pub finished_at: String,
    pub status: RunStatus,
    /// Every app was exported (none taken from the parent snapshot): a base for "full every
    /// N days". Absent in manifests written before it existed.
    #[serde(default)]
    pub full: bool,
    pub counts: BTreeMap<String, Counts>,
    pub items: Vec<Item>,
    pub not_covered: Vec<NotCovered>,
    pub api: qcb_qlik::ApiCounters,
}

impl Manifest {
    /// Counts per kind, from the items: `total` is what the tenant holds as far as the run
    /// knows, backed up, unchanged or failed; a skipped item (deleted while the run went on)
    /// is in none of them.
    pub fn count(items: &[Item]) -> BTreeMap<String, Counts> {
        let mut counts: BTreeMap<String, Counts> = BTreeMap::new();
        for i in items {
            let c = counts.entry(i.kind.clone()).or_default();
            match i.status {
                ItemStatus::BackedUp => c.backed_up += 1,
                ItemStatus::Unchanged => c.unchanged += 1,
                ItemStatus::Failed => c.failed += 1,
                ItemStatus::Skipped => continue,
            }
            c.total += 1;
        }
        counts
    }

    /// A plain-text summary for a terminal: the counts per kind, what must be entered again on
    /// restore, the API's use, failures, notes and what is not covered.
    pub fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} ({}): {}\n{:<26} {:>7} {:>9} {:>9} {:>7}\n",
            if self.snapshot.is_empty() {
                "run".to_string()
            } else {
                format!("snapshot {}", &self.snapshot[..self.snapshot.len().min(8)])
            },
            self.tenant.hostname,
            self.started_at,
            self.status.as_str(),
            "kind",
            "total",
            "backed up",
            "unchanged",
            "failed"
        );
        for (kind, c) in &self.counts {
            out.push_str(&format!(
                "{kind:<26} {:>7} {:>9} {:>9} {:>7}\n",
                c.total, c.backed_up, c.unchanged, c.failed
            ));
        }
        if self.full {
            out.push_str("every app exported (none taken from the parent snapshot)\n");
        }
        let redacted: usize = self.items.iter().map(|i| i.redacted.len()).sum();
        let findings: usize = self.items.iter().map(|i| i.findings.len()).sum();
        out.push_str(&format!(
            "{redacted} secret fields redacted, {findings} credentials found in free text; API: {} requests, {} throttled, {} retried, {} bytes\n",
            self.api.requests, self.api.throttled, self.api.retries, self.api.bytes
        ));
        out.push_str(&self.reentry_table());
        for f in self.items.iter().filter(|i| i.status == ItemStatus::Failed) {
            out.push_str(&format!(
                "failed: {} {} ({}): {}\n",
                f.kind,
                f.id,
                f.name,
                f.error.as_deref().unwrap_or("unknown error")
            ));
        }
        const NOTES_SHOWN: usize = 10;
        let noted: Vec<(&Item, &String)> = self
            .items
            .iter()
            .flat_map(|i| i.notes.iter().map(move |n| (i, n)))
            .collect();
        for (i, n) in noted.iter().take(NOTES_SHOWN) {
            out.push_str(&format!("note: {} {} ({}): {n}\n", i.kind, i.id, i.name));
        }
        if noted.len() > NOTES_SHOWN {
            out.push_str(&format!(
                "note: … and {} more (see the manifest's items)\n",
                noted.len() - NOTES_SHOWN
            ));
        }
        for n in &self.not_covered {
            out.push_str(&format!("not covered: {}: {}\n", n.kind, n.reason));
        }
        out
    }

    /// What a restore cannot bring back by itself, per kind: secret fields replaced by a marker
    /// and credentials cut out of free text. Credentials in apps' load scripts are listed apart:
    /// the export keeps the script whole, so they come back with the app.
    fn reentry_table(&self) -> String {
        #[derive(Default)]
        struct Row {
            items: usize,
            fields: usize,
            in_text: usize,
        }
        let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
        let (mut script_apps, mut script_findings) = (0, 0);
        for i in &self.items {
            let (scripts, text): (Vec<_>, Vec<_>) =
                i.findings.iter().partition(|f| f.at == "script");
            if !scripts.is_empty() {
                script_apps += 1;
                script_findings += scripts.len();
            }
            if i.redacted.is_empty() && text.is_empty() {
                continue;
            }
            let row = rows.entry(i.kind.as_str()).or_default();
            row.items += 1;
            row.fields += i.redacted.len();
            row.in_text += text.len();
        }
        let mut out = String::new();
        if !rows.is_empty() {
            out.push_str(&format!(
                "{:<26} {:>7} {:>9} {:>9}\n",
                "to enter again on restore", "items", "fields", "in text"
            ));
            for (kind, r) in &rows {
                out.push_str(&format!(
                    "{kind:<26} {:>7} {:>9} {:>9}\n",
                    r.items, r.fields, r.in_text
                ));
            }
        }
        if script_findings > 0 {
            out.push_str(&format!(
                "{script_findings} credentials in the load scripts of {script_apps} apps: cut from script.qvs, kept inside the exports; move them into data connections\n"
            ));
        }
        out
    }
}

/// Why a stored manifest cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("the manifest is not valid JSON of schema {SCHEMA}: {0}")]
    Invalid(String),
    #[error("the manifest has schema '{found}', which this qcb ({version}) does not know; upgrade qcb to read it")]
    NewerSchema { found: String, version: String },
}

impl Manifest {
    /// Reads a stored manifest, refusing a schema this version does not know.
    pub fn from_slice(bytes: &[u8]) -> Result<Manifest, ManifestError> {
        let v: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| ManifestError::Invalid(e.to_string()))?;
        let schema = v.get("schema").and_then(|s| s.as_str()).unwrap_or("");
        if schema != SCHEMA {
            return Err(ManifestError::NewerSchema {
                found: schema.to_string(),
                version: env!("CARGO_PKG_VERSION").to_string(),
            });
        }
        serde_json::from_value(v).map_err(|e| ManifestError::Invalid(e.to_string()))
    }
}
