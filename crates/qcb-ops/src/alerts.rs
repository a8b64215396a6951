//! Alerts: where a run's outcome is sent (webhook, Slack, Teams, e-mail, a healthchecks-style
//! ping) and what is sent. Delivery never fails the caller: a target that cannot be reached is
//! logged without its secrets and returned, and the backup goes on.
//!
//! Secrets (SMTP passwords, webhook URLs that embed a token, header values) live in
//! [`SecretString`]s; `Debug`, `Serialize`, logs and errors show only a URL's scheme and host.
//! Each may come from an environment variable (`webhook_url_env`, `{ env = "NAME" }` for a
//! header) or a file (`webhook_url_file`, `{ file = "/path" }`), read at every send as the
//! tenants' credentials are, so qcb.toml itself need hold none.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use qcb_backup::{Counts, ItemStatus, Manifest, RunStatus};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::anomaly::Anomaly;
use crate::config::SecretSource;

/// The schema of the generic webhook's JSON body.
pub const EVENT_SCHEMA: &str = "qcb.event/v1";

/// How many failures and anomalies a chat message lists before "and N more".
const CHAT_LIST_LIMIT: usize = 10;

// ---------------------------------------------------------------------------------------------
// Events

/// What happened, as far as alerting is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// The run succeeded and nothing looked wrong.
    Success,
    /// The run failed: no snapshot was written.
    Failure,
    /// The run wrote a snapshot, but some items failed.
    Partial,
    /// No successful run within the staleness threshold.
    Stale,
    /// The run succeeded, but the snapshot differs from the previous one in an alarming way.
    Anomaly,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Success => "success",
            EventKind::Failure => "failure",
            EventKind::Partial => "partial",
            EventKind::Stale => "stale",
            EventKind::Anomaly => "anomaly",
        }
    }

    /// Whether a person should look at it.
    pub fn is_bad(self) -> bool {
        !matches!(self, EventKind::Success)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An item that failed in a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    pub kind: String,
    pub id: String,
    pub name: String,
    pub error: String,
}

/// One alert: a run's outcome, a stale tenant, or anomalies found after a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// The tenant's hostname.
    pub tenant: String,
    pub kind: EventKind,
    /// The snapshot the run wrote (for a stale tenant: the last one), if any.
    pub snapshot: Option<String>,
    /// The status of the run the event is about (for a stale tenant: its last run), if any.
    pub status: Option<RunStatus>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Counts over all kinds.
    pub summary: Counts,
    pub failures: Vec<Failure>,
    pub anomalies: Vec<Anomaly>,
    /// Where the run's report was written, if it was.
    pub report_path: Option<String>,
    /// One line for a person.
    pub message: String,
}

impl Event {
    /// The event for a finished run: failure, partial, anomaly (a successful run with
    /// anomalies) or success.
    pub fn from_manifest(manifest: &Manifest, anomalies: Vec<Anomaly>) -> Event {
        let mut summary = Counts::default();
        for c in manifest.counts.values() {
            summary.total += c.total;
            summary.backed_up += c.backed_up;
            summary.unchanged += c.unchanged;
            summary.failed += c.failed;
        }
        let failures: Vec<Failure> = manifest
            .items
            .iter()
            .filter(|i| i.status == ItemStatus::Failed)
            .map(|i| Failure {
                kind: i.kind.clone(),
                id: i.id.clone(),
                name: i.name.clone(),
                error: i
                    .error
                    .clone()
                    .unwrap_or_else(|| "unknown error".to_string()),
            })
            .collect();
        let kind = match manifest.status {
            RunStatus::Failed => EventKind::Failure,
            RunStatus::Partial => EventKind::Partial,
            RunStatus::Success if !anomalies.is_empty() => EventKind::Anomaly,
            RunStatus::Success => EventKind::Success,
        };
        let host = &manifest.tenant.hostname;
        let message = match kind {
            EventKind::Failure => format!("the backup of {host} failed"),
            EventKind::Partial => format!(
                "the backup of {host} is partial: {} of {} items failed",
                failures.len(),
                summary.total
            ),
            EventKind::Anomaly => format!(
                "the backup of {host} succeeded with {} anomal{} against the previous snapshot",
                anomalies.len(),
                if anomalies.len() == 1 { "y" } else { "ies" }
            ),
            _ => format!(
                "the backup of {host} succeeded: {} items, {} backed up, {} unchanged",
                summary.total, summary.backed_up, summary.unchanged
            ),
        };
        Event {
            tenant: host.clone(),
            kind,
            snapshot: (!manifest.snapshot.is_empty()).then(|| manifest.snapshot.clone()),
            status: Some(manifest.status),
            started_at: Some(manifest.started_at.clone()),
            finished_at: Some(manifest.finished_at.clone()),
            summary,
            failures,
            anomalies,
            report_path: None,
            message,
        }
    }

    /// The event for a run that ended without a snapshot (so without a manifest). `error`
    /// must be a message fit for people: it is sent as is.
    pub fn failed_run(tenant: &str, started_at: Option<String>, error: &str) -> Event {
        Event {
            tenant: tenant.to_string(),
            kind: EventKind::Failure,
            snapshot: None,
            status: Some(RunStatus::Failed),
            started_at,
            finished_at: Some(chrono::Utc::now().to_rfc3339()),
            summary: Counts::default(),
            failures: Vec::new(),
            anomalies: Vec::new(),
            report_path: None,
            message: format!("the backup of {tenant} failed: {error}"),
        }
    }

    /// The event for a prune that failed: the repository keeps growing until one succeeds.
    pub fn failed_prune(tenant: &str, started_at: Option<String>, error: &str) -> Event {
        Event {
            message: format!(
                "the prune of {tenant}'s repository failed: {error}; its storage keeps growing until a prune succeeds"
            ),
            status: None,
            ..Event::failed_run(tenant, started_at, error)
        }
    }

    /// The event for a tenant with no successful run within `threshold`. `last_success` is the
    /// manifest of its last successful (or partial) run, if it has one.
    pub fn stale(
        tenant: &str,
        last_success: Option<&Manifest>,
        age: Option<Duration>,
        threshold: Duration,
    ) -> Event {
        let message = match age {
            Some(age) => format!(
                "no successful backup of {tenant} for {}, more than the threshold of {}",
                human_duration(age),
                human_duration(threshold)
            ),
            None => format!(
                "no successful backup of {tenant} yet (threshold {})",
                human_duration(threshold)
            ),
        };
        let mut event = match last_success {
            Some(m) => Event::from_manifest(m, Vec::new()),
            None => Event::failed_run(tenant, None, ""),
        };
        event.tenant = tenant.to_string();
        event.kind = EventKind::Stale;
        event.failures.clear();
        if last_success.is_none() {
            event.status = None;
            event.finished_at = None;
        }
        event.message = message;
        event
    }

    /// Sets where the run's report was written.
    pub fn with_report_path(mut self, path: impl Into<String>) -> Event {
        self.report_path = Some(path.into());
        self
    }

    /// A one-line title: `qcb: acme.eu.qlikcloud.com backup partial (3 failed)`.
    pub fn subject(&self) -> String {
        let t = &self.tenant;
        match self.kind {
            EventKind::Success => format!("qcb: {t} backup succeeded"),
            EventKind::Failure => format!("qcb: {t} backup failed"),
            EventKind::Partial => {
                format!("qcb: {t} backup partial ({} failed)", self.failures.len())
            }
            EventKind::Stale => format!("qcb: {t} backup stale"),
            EventKind::Anomaly => format!(
                "qcb: {t} backup anomal{} ({})",
                if self.anomalies.len() == 1 {
                    "y"
                } else {
                    "ies"
                },
                self.anomalies.len()
            ),
        }
    }

    /// The plain-text body of an e-mail or a ping: every failure and anomaly.
    pub fn text(&self) -> String {
        self.text_limited(usize::MAX)
    }

    fn text_limited(&self, limit: usize) -> String {
        let mut out = format!("{}\n\n", capitalize(&self.message));
        out.push_str(&format!("tenant:    {}\n", self.tenant));
        out.push_str(&format!("event:     {}\n", self.kind));
        if let Some(s) = self.status {
            out.push_str(&format!("status:    {}\n", s.as_str()));
        }
        if let Some(s) = &self.snapshot {
            out.push_str(&format!("snapshot:  {s}\n"));
        }
        if let Some(s) = &self.started_at {
            out.push_str(&format!("started:   {s}\n"));
        }
        if let Some(s) = &self.finished_at {
            out.push_str(&format!("finished:  {s}\n"));
        }
        let c = &self.summary;
        if c.total > 0 {
            out.push_str(&format!(
                "items:     {} total, {} backed up, {} unchanged, {} failed\n",
                c.total, c.backed_up, c.unchanged, c.failed
            ));
        }
        if let Some(p) = &self.report_path {
            out.push_str(&format!("report:    {p}\n"));
        }
        if !self.failures.is_empty() {
            out.push_str(&format!("\nFailed items ({}):\n", self.failures.len()));
            for f in self.failures.iter().take(limit) {
                out.push_str(&format!("- {}\n", failure_line(f)));
            }
            more(&mut out, self.failures.len(), limit);
        }
        if !self.anomalies.is_empty() {
            out.push_str(&format!("\nAnomalies ({}):\n", self.anomalies.len()));
            for a in self.anomalies.iter().take(limit) {
                out.push_str(&format!("- {}\n", a.message));
            }
            more(&mut out, self.anomalies.len(), limit);
        }
        out
    }
}

fn failure_line(f: &Failure) -> String {
    if f.name.is_empty() || f.name == f.id {
        format!("{} {}: {}", f.kind, f.id, f.error)
    } else {
        format!("{} {} ({}): {}", f.kind, f.id, f.name, f.error)
    }
}

fn more(out: &mut String, len: usize, limit: usize) {
    if len > limit {
        out.push_str(&format!("… and {} more\n", len - limit));
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

fn human_duration(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        s if s >= 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 => format!("{}h{:02}m", s / 3_600, (s % 3_600) / 60),
        s if s >= 60 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

// ---------------------------------------------------------------------------------------------
// Targets

/// A URL that may embed a token (Slack and Teams webhook URLs, ping URLs). Only its scheme and
/// host are ever shown.
#[derive(Clone)]
pub struct SecretUrl {
    url: SecretString,
    shown: String,
}

impl SecretUrl {
    /// Parses an `http` or `https` URL.
    pub fn parse(s: &str) -> Result<SecretUrl, String> {
        // The parse error itself never echoes the input, so it is safe to pass on.
        let url = url::Url::parse(s).map_err(|e| format!("not a valid URL: {e}"))?;
        if url.scheme() != "http" && url.scheme() != "https" {
            return Err(format!(
                "a URL with scheme `{}`; only http and https are supported",
                url.scheme()
            ));
        }
        let host = url.host_str().unwrap_or("");
        let shown = match url.port() {
            Some(p) => format!("{}://{host}:{p}/…", url.scheme()),
            None => format!("{}://{host}/…", url.scheme()),
        };
        Ok(SecretUrl {
            url: SecretString::from(s.to_string()),
            shown,
        })
    }

    /// The full URL, to send a request to. Never log it.
    pub fn expose(&self) -> &str {
        self.url.expose_secret()
    }

    /// Scheme and host only.
    pub fn redacted(&self) -> &str {
        &self.shown
    }
}

impl fmt::Debug for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for SecretUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl<'de> Deserialize<'de> for SecretUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        SecretUrl::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for SecretUrl {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.shown)
    }
}

/// Where a target's URL comes from: written in qcb.toml (`webhook_url`), or read at each send
/// from an environment variable (`webhook_url_env`) or a file (`webhook_url_file`).
#[derive(Clone)]
pub enum UrlSource {
    Inline(SecretUrl),
    /// An environment variable or a file (never [`SecretSource::Inline`]).
    External(SecretSource),
}

impl UrlSource {
    /// From the three ways a URL field may be written, of which exactly one must be.
    fn from_fields(
        field: &str,
        inline: Option<SecretUrl>,
        env: Option<String>,
        file: Option<PathBuf>,
    ) -> Result<UrlSource, String> {
        match (inline, env, file) {
            (Some(url), None, None) => Ok(UrlSource::Inline(url)),
            (None, Some(name), None) => Ok(UrlSource::External(env_source(field, name)?)),
            (None, None, Some(path)) => Ok(UrlSource::External(SecretSource::File(path))),
            (None, None, None) => Err(format!(
                "`{field}` is missing: give `{field}_env` (an environment variable holding the URL), `{field}_file` (a file holding it) or `{field}`"
            )),
            _ => Err(format!(
                "`{field}` is given more than one way: keep one of `{field}_env`, `{field}_file` and `{field}`"
            )),
        }
    }

    /// The URL, read now from its variable or file. The error names the variable or file,
    /// never the value.
    pub fn resolve(&self) -> Result<SecretUrl, String> {
        match self {
            UrlSource::Inline(url) => Ok(url.clone()),
            UrlSource::External(source) => {
                let text = source.read()?;
                SecretUrl::parse(text.expose_secret())
                    .map_err(|e| format!("the URL in {} is {e}", shown_source(source)))
            }
        }
    }

    pub fn is_inline(&self) -> bool {
        matches!(self, UrlSource::Inline(_))
    }
}

/// `the environment variable NAME` or `the file /path`.
fn shown_source(source: &SecretSource) -> String {
    match source {
        SecretSource::Env(name) => format!("the environment variable {name}"),
        SecretSource::File(path) => format!("the file {}", path.display()),
        SecretSource::Inline(_) => "qcb.toml".to_string(),
    }
}

fn env_source(field: &str, name: String) -> Result<SecretSource, String> {
    if name.trim().is_empty() || name.contains('=') {
        return Err(format!(
            "`{field}_env` must name an environment variable (e.g. QCB_SLACK_URL)"
        ));
    }
    Ok(SecretSource::Env(name))
}

impl fmt::Debug for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for UrlSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UrlSource::Inline(url) => fmt::Display::fmt(url, f),
            UrlSource::External(SecretSource::Env(name)) => write!(f, "(URL in ${name})"),
            UrlSource::External(source) => write!(f, "(URL in {})", shown_source(source)),
        }
    }
}

impl Serialize for UrlSource {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// An HTTP header value that may be a credential (`Authorization: Bearer …`): written in
/// qcb.toml, or `{ env = "NAME" }` / `{ file = "/path" }`, read at each send.
#[derive(Clone)]
pub struct SecretHeader(pub SecretSource);

impl SecretHeader {
    /// The value, read now. The error names the variable or file, never the value.
    pub fn read(&self) -> Result<SecretString, String> {
        self.0.read()
    }

    pub fn is_inline(&self) -> bool {
        matches!(self.0, SecretSource::Inline(_))
    }
}

impl fmt::Debug for SecretHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            SecretSource::Inline(_) => f.write_str("[redacted]"),
            other => write!(f, "({})", shown_source(other)),
        }
    }
}

impl<'de> Deserialize<'de> for SecretHeader {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = SecretHeader;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a header value, or { env = \"NAME\" } or { file = \"/path\" } naming where it is",
                )
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<SecretHeader, E> {
                Ok(SecretHeader(SecretSource::Inline(SecretString::from(
                    v.to_string(),
                ))))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<SecretHeader, A::Error> {
                use serde::de::Error;
                let mut found = None;
                while let Some(key) = map.next_key::<String>()? {
                    if found.is_some() {
                        return Err(A::Error::custom(
                            "a header value is `{ env = \"NAME\" }` or `{ file = \"/path\" }`, not both",
                        ));
                    }
                    found = Some(match key.as_str() {
                        "env" => env_source("headers", map.next_value::<String>()?)
                            .map_err(A::Error::custom)?,
                        "file" => SecretSource::File(map.next_value::<PathBuf>()?),
                        other => {
                            return Err(A::Error::custom(format!(
                                "unknown key `{other}` in a header value: use `env` or `file`"
                            )))
                        }
                    });
                }
                found.map(SecretHeader).ok_or_else(|| {
                    A::Error::custom(
                        "an empty header value table: give `{ env = \"NAME\" }` or `{ file = \"/path\" }`",
                    )
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

impl Serialize for SecretHeader {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{self:?}"))
    }
}

/// Where an alert goes (`[[tenants.alerts]]` in `qcb.toml`, `type = "slack"` and so on).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Target {
    /// POSTs the event as JSON (schema `qcb.event/v1`).
    Webhook(WebhookTarget),
    /// A Slack incoming webhook.
    Slack(SlackTarget),
    /// A Microsoft Teams incoming webhook (a Workflows "post to a channel when a webhook
    /// request is received" URL); the message is an Adaptive Card.
    Teams(TeamsTarget),
    /// E-mail over SMTP.
    Email(EmailTarget),
    /// A healthchecks.io-style ping URL: success pings the URL, a failure `<URL>/fail`.
    Healthchecks(HealthchecksTarget),
}

/// The events a target receives when its `on` is not given.
pub const DEFAULT_ON: &[EventKind] = &[
    EventKind::Failure,
    EventKind::Partial,
    EventKind::Stale,
    EventKind::Anomaly,
];

/// The events a healthchecks target receives when its `on` is not given: every run's outcome.
/// Staleness is the pinged service's own job.
pub const DEFAULT_ON_HEALTHCHECKS: &[EventKind] = &[
    EventKind::Success,
    EventKind::Failure,
    EventKind::Partial,
    EventKind::Anomaly,
];

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawWebhook")]
pub struct WebhookTarget {
    pub url: UrlSource,
    /// Extra request headers; their values are treated as secrets.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, SecretHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<EventKind>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawChat")]
pub struct SlackTarget {
    pub webhook_url: UrlSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<EventKind>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawChat")]
pub struct TeamsTarget {
    pub webhook_url: UrlSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<EventKind>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "RawHealthchecks")]
pub struct HealthchecksTarget {
    pub ping_url: UrlSource,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub on: Option<Vec<EventKind>>,
}

/// The webhook target as written in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWebhook {
    url: Option<SecretUrl>,
    url_env: Option<String>,
    url_file: Option<PathBuf>,
    #[serde(default)]
    headers: BTreeMap<String, SecretHeader>,
    on: Option<Vec<EventKind>>,
}

impl TryFrom<RawWebhook> for WebhookTarget {
    type Error = String;
    fn try_from(r: RawWebhook) -> Result<Self, String> {
        Ok(WebhookTarget {
            url: UrlSource::from_fields("url", r.url, r.url_env, r.url_file)?,
            headers: r.headers,
            on: r.on,
        })
    }
}

/// The Slack and Teams targets as written in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChat {
    webhook_url: Option<SecretUrl>,
    webhook_url_env: Option<String>,
    webhook_url_file: Option<PathBuf>,
    on: Option<Vec<EventKind>>,
}

impl RawChat {
    fn url(self) -> Result<(UrlSource, Option<Vec<EventKind>>), String> {
        let url = UrlSource::from_fields(
            "webhook_url",
            self.webhook_url,
            self.webhook_url_env,
            self.webhook_url_file,
        )?;
        Ok((url, self.on))
    }
}

impl TryFrom<RawChat> for SlackTarget {
    type Error = String;
    fn try_from(r: RawChat) -> Result<Self, String> {
        let (webhook_url, on) = r.url()?;
        Ok(SlackTarget { webhook_url, on })
    }
}

impl TryFrom<RawChat> for TeamsTarget {
    type Error = String;
    fn try_from(r: RawChat) -> Result<Self, String> {
        let (webhook_url, on) = r.url()?;
        Ok(TeamsTarget { webhook_url, on })
    }
}

/// The healthchecks target as written in the configuration.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHealthchecks {
    ping_url: Option<SecretUrl>,
    ping_url_env: Option<String>,
    ping_url_file: Option<PathBuf>,
    on: Option<Vec<EventKind>>,
}

impl TryFrom<RawHealthchecks> for HealthchecksTarget {
    type Error = String;
    fn try_from(r: RawHealthchecks) -> Result<Self, String> {
        Ok(HealthchecksTarget {
            ping_url: UrlSource::from_fields(
                "ping_url",
                r.ping_url,
                r.ping_url_env,
                r.ping_url_file,
            )?,
            on: r.on,
        })
    }
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS, which the server must offer (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No encryption (port 25); only for a relay on the same host or network.
    None,
}

impl SmtpTls {
    pub fn default_port(self) -> u16 {
        match self {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        }
    }
}

/// Where the SMTP password is read from, at send time. Never inline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordSource {
    /// The name of an environment variable.
    Env(String),
    /// A file holding the password (a trailing newline is ignored).
    File(PathBuf),
}

impl PasswordSource {
    /// Reads the password. The error names the variable or file, never the value.
    pub fn read(&self) -> Result<SecretString, String> {
        match self {
            PasswordSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.is_empty() => Ok(SecretString::from(v)),
                Ok(_) => Err(format!("the environment variable {name} is empty")),
                Err(_) => Err(format!("the environment variable {name} is not set")),
            },
            PasswordSource::File(path) => match std::fs::read_to_string(path) {
                Ok(v) => {
                    let v = v.trim_end_matches(['\r', '\n']).to_string();
                    if v.is_empty() {
                        Err(format!("the password file {} is empty", path.display()))
                    } else {
                        Ok(SecretString::from(v))
                    }
                }
                Err(e) => Err(format!(
                    "cannot read the password file {}: {e}",
                    path.display()
                )),
            },
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(try_from = "EmailConfig", into = "EmailConfig")]
pub struct EmailTarget {
    pub smtp_host: String,
    pub smtp_port: u16,
    pub tls: SmtpTls,
    pub username: Option<String>,
    pub password: Option<PasswordSource>,
    /// A PEM file of extra CA certificates to trust (a relay with an internal CA).
    pub ca_file: Option<PathBuf>,
    pub from: String,
    pub to: Vec<String>,
    pub on: Option<Vec<EventKind>>,
}

/// The e-mail target as written in the configuration.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EmailConfig {
    smtp_host: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    smtp_port: Option<u16>,
    #[serde(default)]
    tls: SmtpTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password_file: Option<PathBuf>,
    /// Present only to refuse it with a helpful message; never holds the value.
    #[serde(
        default,
        rename = "password",
        skip_serializing,
        deserialize_with = "refuse_inline_password"
    )]
    _inline_password: Option<()>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ca_file: Option<PathBuf>,
    from: String,
    to: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    on: Option<Vec<EventKind>>,
}

fn refuse_inline_password<'de, D: Deserializer<'de>>(d: D) -> Result<Option<()>, D::Error> {
    // Consume the value without keeping it, then refuse.
    serde::de::IgnoredAny::deserialize(d)?;
    Err(serde::de::Error::custom(
        "an inline SMTP `password` is not accepted: put it in an environment variable \
         (`password_env = \"NAME\"`) or a file (`password_file = \"/path\"`)",
    ))
}

impl TryFrom<EmailConfig> for EmailTarget {
    type Error = String;

    fn try_from(c: EmailConfig) -> Result<Self, String> {
        let password = match (c.password_env, c.password_file) {
            (Some(_), Some(_)) => {
                return Err(
                    "give the SMTP password as password_env or password_file, not both".to_string(),
                )
            }
            (Some(name), None) => Some(PasswordSource::Env(name)),
            (None, Some(path)) => Some(PasswordSource::File(path)),
            (None, None) => None,
        };
        if password.is_some() && c.username.is_none() {
            return Err("an SMTP password needs a `username`".to_string());
        }
        if c.smtp_host.trim().is_empty() {
            return Err("`smtp_host` is empty".to_string());
        }
        parse_mailbox(&c.from, "from")?;
        if c.to.is_empty() {
            return Err("`to` lists no recipient".to_string());
        }
        for to in &c.to {
            parse_mailbox(to, "to")?;
        }
        Ok(EmailTarget {
            smtp_host: c.smtp_host,
            smtp_port: c.smtp_port.unwrap_or(c.tls.default_port()),
            tls: c.tls,
            username: c.username,
            password,
            ca_file: c.ca_file,
            from: c.from,
            to: c.to,
            on: c.on,
        })
    }
}

impl From<EmailTarget> for EmailConfig {
    fn from(t: EmailTarget) -> Self {
        let (password_env, password_file) = match t.password {
            Some(PasswordSource::Env(n)) => (Some(n), None),
            Some(PasswordSource::File(p)) => (None, Some(p)),
            None => (None, None),
        };
        EmailConfig {
            smtp_host: t.smtp_host,
            smtp_port: Some(t.smtp_port),
            tls: t.tls,
            username: t.username,
            password_env,
            password_file,
            _inline_password: None,
            ca_file: t.ca_file,
            from: t.from,
            to: t.to,
            on: t.on,
        }
    }
}

fn parse_mailbox(s: &str, field: &str) -> Result<lettre::message::Mailbox, String> {
    s.parse()
        .map_err(|e| format!("`{field}` address `{s}` is not valid: {e}"))
}

impl Target {
    fn on(&self) -> Option<&[EventKind]> {
        match self {
            Target::Webhook(t) => t.on.as_deref(),
            Target::Slack(t) => t.on.as_deref(),
            Target::Teams(t) => t.on.as_deref(),
            Target::Email(t) => t.on.as_deref(),
            Target::Healthchecks(t) => t.on.as_deref(),
        }
    }

    /// Whether this target receives events of `kind`.
    pub fn wants(&self, kind: EventKind) -> bool {
        match (self.on(), self) {
            (Some(on), _) => on.contains(&kind),
            (None, Target::Healthchecks(_)) => DEFAULT_ON_HEALTHCHECKS.contains(&kind),
            (None, _) => DEFAULT_ON.contains(&kind),
        }
    }

    /// Whether this target receives `event`: its kind, or — a run with anomalies that is
    /// also partial is sent as partial — anomalies when it has some.
    pub fn wants_event(&self, event: &Event) -> bool {
        self.wants(event.kind) || (!event.anomalies.is_empty() && self.wants(EventKind::Anomaly))
    }

    /// The secrets written into qcb.toml itself (rather than named by `_env` or `_file`), by
    /// the field that holds them: what the mode-600 warning lists.
    pub fn inline_secrets(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        match self {
            Target::Webhook(t) => {
                if t.url.is_inline() {
                    out.push("the `url` of a webhook alert");
                }
                if t.headers.values().any(SecretHeader::is_inline) {
                    out.push("the `headers` of a webhook alert");
                }
            }
            Target::Slack(t) if t.webhook_url.is_inline() => {
                out.push("the `webhook_url` of a slack alert")
            }
            Target::Teams(t) if t.webhook_url.is_inline() => {
                out.push("the `webhook_url` of a teams alert")
            }
            Target::Healthchecks(t) if t.ping_url.is_inline() => {
                out.push("the `ping_url` of a healthchecks alert")
            }
            _ => {}
        }
        out
    }

    /// The target for logs and errors, without secrets: `slack https://hooks.slack.com/…`.
    pub fn describe(&self) -> String {
        match self {
            Target::Webhook(t) => format!("webhook {}", t.url),
            Target::Slack(t) => format!("slack {}", t.webhook_url),
            Target::Teams(t) => format!("teams {}", t.webhook_url),
            Target::Email(t) => format!(
                "email via {}:{} to {}",
                t.smtp_host,
                t.smtp_port,
                t.to.join(", ")
            ),
            Target::Healthchecks(t) => format!("healthchecks {}", t.ping_url),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Payloads

/// The generic webhook's body: the event with its schema.
pub fn webhook_payload(event: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(event).unwrap_or(serde_json::Value::Null);
    if let serde_json::Value::Object(map) = &mut v {
        map.insert("schema".into(), EVENT_SCHEMA.into());
    }
    v
}

/// Slack's mrkdwn needs `&`, `<` and `>` escaped; nothing else.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn emoji(kind: EventKind) -> &'static str {
    match kind {
        EventKind::Success => ":white_check_mark:",
        EventKind::Failure => ":x:",
        EventKind::Partial => ":warning:",
        EventKind::Stale => ":hourglass:",
        EventKind::Anomaly => ":rotating_light:",
    }
}

/// Shortens text to a chat service's field limit.
fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn facts(event: &Event) -> Vec<(&'static str, String)> {
    let mut f = vec![("Tenant", event.tenant.clone())];
    if let Some(s) = event.status {
        f.push(("Status", s.as_str().to_string()));
    }
    if let Some(s) = &event.snapshot {
        f.push(("Snapshot", s.chars().take(8).collect()));
    }
    if let Some(s) = &event.finished_at {
        f.push(("Finished", s.clone()));
    }
    let c = &event.summary;
    if c.total > 0 {
        f.push((
            "Items",
            format!(
                "{} total, {} backed up, {} unchanged, {} failed",
                c.total, c.backed_up, c.unchanged, c.failed
            ),
        ));
    }
    if let Some(p) = &event.report_path {
        f.push(("Report", p.clone()));
    }
    f
}

fn list_lines<T>(items: &[T], line: impl Fn(&T) -> String) -> Vec<String> {
    let mut out: Vec<String> = items.iter().take(CHAT_LIST_LIMIT).map(line).collect();
    if items.len() > CHAT_LIST_LIMIT {
        out.push(format!("… and {} more", items.len() - CHAT_LIST_LIMIT));
    }
    out
}

/// A Slack incoming-webhook message: `text` (the notification's fallback) and Block Kit
/// `blocks`.
pub fn slack_payload(event: &Event) -> serde_json::Value {
    let title = event.subject();
    let mut blocks = vec![
        serde_json::json!({"type": "header", "text": {"type": "plain_text", "text": clip(&title, 150)}}),
        serde_json::json!({"type": "section", "text": {"type": "mrkdwn",
            "text": clip(&format!("{} {}", emoji(event.kind), slack_escape(&capitalize(&event.message))), 3000)}}),
        serde_json::json!({"type": "section", "fields": facts(event).iter().map(|(k, v)| serde_json::json!({
            "type": "mrkdwn", "text": clip(&format!("*{k}*\n{}", slack_escape(v)), 2000)})).collect::<Vec<_>>()}),
    ];
    if !event.failures.is_empty() {
        let lines = list_lines(&event.failures, |f| {
            format!("• {}", slack_escape(&failure_line(f)))
        });
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn",
            "text": clip(&format!("*Failed items ({})*\n{}", event.failures.len(), lines.join("\n")), 3000)}}));
    }
    if !event.anomalies.is_empty() {
        let lines = list_lines(&event.anomalies, |a| {
            format!("• {}", slack_escape(&a.message))
        });
        blocks.push(serde_json::json!({"type": "section", "text": {"type": "mrkdwn",
            "text": clip(&format!("*Anomalies ({})*\n{}", event.anomalies.len(), lines.join("\n")), 3000)}}));
    }
    serde_json::json!({
        "text": format!("{}: {}", title, event.message),
        "blocks": blocks,
    })
}

/// A Teams message for a Workflows webhook: one Adaptive Card (schema 1.4) as an attachment.
pub fn teams_payload(event: &Event) -> serde_json::Value {
    let color = match event.kind {
        EventKind::Success => "Good",
        EventKind::Partial | EventKind::Stale => "Warning",
        EventKind::Failure | EventKind::Anomaly => "Attention",
    };
    let mut body = vec![
        serde_json::json!({"type": "TextBlock", "text": event.subject(), "weight": "Bolder",
            "size": "Medium", "color": color, "wrap": true}),
        serde_json::json!({"type": "TextBlock", "text": capitalize(&event.message), "wrap": true}),
        serde_json::json!({"type": "FactSet", "facts": facts(event).iter()
            .map(|(k, v)| serde_json::json!({"title": k, "value": v})).collect::<Vec<_>>()}),
    ];
    let mut section = |title: String, lines: Vec<String>| {
        body.push(
            serde_json::json!({"type": "TextBlock", "text": title, "weight": "Bolder",
            "wrap": true, "spacing": "Medium"}),
        );
        for l in lines {
            body.push(
                serde_json::json!({"type": "TextBlock", "text": l, "wrap": true,
                "spacing": "None"}),
            );
        }
    };
    if !event.failures.is_empty() {
        section(
            format!("Failed items ({})", event.failures.len()),
            list_lines(&event.failures, |f| format!("- {}", failure_line(f))),
        );
    }
    if !event.anomalies.is_empty() {
        section(
            format!("Anomalies ({})", event.anomalies.len()),
            list_lines(&event.anomalies, |a| format!("- {}", a.message)),
        );
    }
    serde_json::json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "msteams": {"width": "Full"},
                "body": body,
            }
        }]
    })
}

/// The healthchecks URL for an event: the ping URL on success, `<URL>/fail` otherwise.
pub fn healthchecks_url(ping_url: &str, kind: EventKind) -> String {
    match kind {
        EventKind::Success | EventKind::Anomaly => ping_url.to_string(),
        _ => format!("{}/fail", ping_url.trim_end_matches('/')),
    }
}

// ---------------------------------------------------------------------------------------------
// Delivery

/// A target that could not be reached. Carries no secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("alert to {target} failed after {attempts} attempt(s): {reason}")]
pub struct DeliveryError {
    /// The target, as [`Target::describe`] shows it.
    pub target: String,
    pub attempts: u32,
    pub reason: String,
}

/// How hard delivery tries.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// The limit of one attempt (connect, send, answer).
    pub timeout: Duration,
    /// Attempts per target, the first included.
    pub attempts: u32,
    /// The pause before a retry.
    pub retry_delay: Duration,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        DispatchOptions {
            timeout: Duration::from_secs(10),
            attempts: 2,
            retry_delay: Duration::from_secs(2),
        }
    }
}

/// Sends `event` to every target that wants it, at the same time, with a timeout and a retry.
/// A target that fails is logged (without secrets) and returned; this never fails the caller.
pub async fn dispatch(targets: &[Target], event: &Event) -> Vec<DeliveryError> {
    dispatch_with(targets, event, &DispatchOptions::default()).await
}

/// [`dispatch`] with explicit timeouts and retries.
pub async fn dispatch_with(
    targets: &[Target],
    event: &Event,
    opts: &DispatchOptions,
) -> Vec<DeliveryError> {
    let client = match reqwest::Client::builder()
        .timeout(opts.timeout)
        .connect_timeout(opts.timeout)
        .user_agent(concat!("qcb/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => Some(c),
        Err(e) => {
            tracing::warn!(error = %e.without_url(), "cannot build the HTTP client for alerts");
            None
        }
    };
    let sends = targets
        .iter()
        .filter(|t| t.wants_event(event))
        .map(|t| deliver(client.as_ref(), t, event, opts));
    let results = futures::future::join_all(sends).await;
    let errors: Vec<DeliveryError> = results.into_iter().filter_map(Result::err).collect();
    for e in &errors {
        tracing::warn!(target_name = %e.target, attempts = e.attempts, reason = %e.reason,
            tenant = %event.tenant, event = %event.kind, "alert not delivered");
    }
    errors
}

/// Whether an attempt's failure is worth a retry.
enum Attempt {
    Retry(String),
    GiveUp(String),
}

async fn deliver(
    client: Option<&reqwest::Client>,
    target: &Target,
    event: &Event,
    opts: &DispatchOptions,
) -> Result<(), DeliveryError> {
    let attempts = opts.attempts.max(1);
    let mut last = String::new();
    for n in 1..=attempts {
        if n > 1 {
            tokio::time::sleep(opts.retry_delay).await;
        }
        match attempt(client, target, event, opts).await {
            Ok(()) => {
                tracing::debug!(target_name = %target.describe(), event = %event.kind, "alert delivered");
                return Ok(());
            }
            Err(Attempt::Retry(reason)) => last = reason,
            Err(Attempt::GiveUp(reason)) => {
                return Err(DeliveryError {
                    target: target.describe(),
                    attempts: n,
                    reason,
                })
            }
        }
    }
    Err(DeliveryError {
        target: target.describe(),
        attempts,
        reason: last,
    })
}

async fn attempt(
    client: Option<&reqwest::Client>,
    target: &Target,
    event: &Event,
    opts: &DispatchOptions,
) -> Result<(), Attempt> {
    let http = |c: Option<&reqwest::Client>| {
        c.cloned()
            .ok_or_else(|| Attempt::GiveUp("no HTTP client could be built".to_string()))
    };
    // A secret read from a variable or file that is missing stays missing on a retry.
    let url = |source: &UrlSource| source.resolve().map_err(Attempt::GiveUp);
    match target {
        Target::Webhook(t) => {
            let url = url(&t.url)?;
            let mut req = http(client)?
                .post(url.expose())
                .json(&webhook_payload(event));
            for (name, value) in &t.headers {
                let value = value.read().map_err(|e| {
                    Attempt::GiveUp(format!("the value of header {name} cannot be read: {e}"))
                })?;
                req = req.header(name.as_str(), value.expose_secret());
            }
            send(req, &url).await
        }
        Target::Slack(t) => {
            let url = url(&t.webhook_url)?;
            let req = http(client)?.post(url.expose()).json(&slack_payload(event));
            send(req, &url).await
        }
        Target::Teams(t) => {
            let url = url(&t.webhook_url)?;
            let req = http(client)?.post(url.expose()).json(&teams_payload(event));
            send(req, &url).await
        }
        Target::Healthchecks(t) => {
            let ping = url(&t.ping_url)?;
            let req = http(client)?
                .post(healthchecks_url(ping.expose(), event.kind))
                .header(reqwest::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(event.text());
            send(req, &ping).await
        }
        Target::Email(t) => send_email(t, event, opts).await,
    }
}

async fn send(req: reqwest::RequestBuilder, url: &SecretUrl) -> Result<(), Attempt> {
    let resp = match req.send().await {
        // reqwest's errors carry the URL, which may hold a token: drop it.
        Err(e) => return Err(Attempt::Retry(error_chain(&e.without_url()))),
        Ok(r) => r,
    };
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let body = resp.text().await.unwrap_or_default();
    let body = clip(body.trim(), 200).replace(url.expose(), url.redacted());
    let reason = if body.is_empty() {
        format!("{} answered {status}", url.redacted())
    } else {
        format!("{} answered {status}: {body}", url.redacted())
    };
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        Err(Attempt::Retry(reason))
    } else {
        Err(Attempt::GiveUp(reason))
    }
}

fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

async fn send_email(t: &EmailTarget, event: &Event, opts: &DispatchOptions) -> Result<(), Attempt> {
    use lettre::message::header::ContentType;
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    let give_up = Attempt::GiveUp;
    let from = parse_mailbox(&t.from, "from").map_err(give_up)?;
    let mut builder = Message::builder()
        .from(from)
        .subject(event.subject())
        .header(ContentType::TEXT_PLAIN);
    for to in &t.to {
        builder = builder.to(parse_mailbox(to, "to").map_err(give_up)?);
    }
    let message = builder
        .body(event.text())
        .map_err(|e| Attempt::GiveUp(format!("cannot build the message: {e}")))?;

    let tls = match t.tls {
        SmtpTls::None => Tls::None,
        mode => {
            let mut params = TlsParameters::builder(t.smtp_host.clone());
            if let Some(path) = &t.ca_file {
                let pem = std::fs::read(path).map_err(|e| {
                    Attempt::GiveUp(format!("cannot read ca_file {}: {e}", path.display()))
                })?;
                let cert = Certificate::from_pem(&pem).map_err(|e| {
                    Attempt::GiveUp(format!("ca_file {} is not PEM: {e}", path.display()))
                })?;
                params = params.add_root_certificate(cert);
            }
            let params = params
                .build_rustls()
                .map_err(|e| Attempt::GiveUp(format!("TLS setup failed: {e}")))?;
            if mode == SmtpTls::Tls {
                Tls::Wrapper(params)
            } else {
                Tls::Required(params)
            }
        }
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&t.smtp_host)
        .port(t.smtp_port)
        .tls(tls)
        .timeout(Some(opts.timeout));
    if let (Some(user), Some(source)) = (&t.username, &t.password) {
        let password = source.read().map_err(Attempt::GiveUp)?;
        transport = transport.credentials(Credentials::new(
            user.clone(),
            password.expose_secret().to_string(),
        ));
    }
    let transport = transport.build();
    let sent = tokio::time::timeout(opts.timeout, transport.send(message)).await;
    match sent {
        Err(_) => Err(Attempt::Retry(format!(
            "no answer from {}:{} within {:?}",
            t.smtp_host, t.smtp_port, opts.timeout
        ))),
        // lettre's errors name the server's answer and the I/O error, never the credentials.
        Ok(Err(e)) if e.is_permanent() => Err(Attempt::GiveUp(error_chain(&e))),
        Ok(Err(e)) => Err(Attempt::Retry(error_chain(&e))),
        Ok(Ok(_)) => Ok(()),
    }
}
