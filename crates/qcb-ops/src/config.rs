//! The configuration file `qcb.toml`: one or many tenants, each with where its credentials
//! come from, its repository, what to back up, when, how long to keep it and whom to tell.
//! `qcb.example.toml` at the repository's root shows and explains every setting.
//!
//! Secrets are never required in the file: each one names an environment variable
//! (`api_key_env`, `webhook_url_env`) or a file (`api_key_file`, `webhook_url_file`) it is read
//! from, at every run, so a rotated secret file is picked up without a restart. A secret written into the file itself is
//! accepted, with a warning, unless the file is readable by its owner only (mode 600).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use qcb_repo::{KeepPolicy, RepoOptions};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::alerts::Target;
use crate::anomaly::Thresholds;
use crate::schedule::{Schedule, Zone};

/// The environment variable naming the configuration file.
pub const CONFIG_ENV: &str = "QCB_CONFIG";
/// Where `qcb serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9464";
/// A backup every night at 02:00 UTC, unless a tenant says otherwise.
pub const DEFAULT_SCHEDULE: &str = "0 2 * * *";
/// Tenants backed up at once by `qcb serve` unless the file says otherwise: a partner's dozens
/// of tenants on the same schedule queue up rather than all start at 02:00.
pub const DEFAULT_MAX_CONCURRENT_RUNS: usize = 4;
/// A tenant is stale when its last successful run is older than this (a daily schedule, with
/// two hours' slack).
pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(26 * 3600);

/// A configuration that cannot be used, and what to do about it. Never holds a secret: a
/// secret's source is named (a variable, a file), not its value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no configuration file: give --config FILE or set QCB_CONFIG, or create ./qcb.toml (qcb.example.toml shows every setting)")]
    NotFound,
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}, line {line}, column {column}: {message}")]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("{path}: tenant `{tenant}`: `{field}` {message}")]
    Tenant {
        path: PathBuf,
        tenant: String,
        field: &'static str,
        message: String,
    },
    #[error("tenant `{tenant}`: cannot read the {what}: {reason}")]
    Secret {
        tenant: String,
        what: &'static str,
        reason: String,
    },
}

/// Where a secret comes from. Its `Debug` never shows an inline value.
#[derive(Clone)]
pub enum SecretSource {
    /// An environment variable, by name.
    Env(String),
    /// A file; surrounding whitespace is dropped, as restic does for password files.
    File(PathBuf),
    /// Written into the configuration file.
    Inline(SecretString),
}

impl fmt::Debug for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Env(name) => write!(f, "Env({name})"),
            SecretSource::File(path) => write!(f, "File({})", path.display()),
            SecretSource::Inline(_) => f.write_str("Inline([REDACTED])"),
        }
    }
}

impl SecretSource {
    /// Reads the secret now. Errors name the variable or file, never a value.
    pub fn read(&self) -> Result<SecretString, String> {
        match self {
            SecretSource::Env(name) => match std::env::var(name) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
                Ok(_) => Err(format!("the environment variable {name} is empty")),
                Err(_) => Err(format!(
                    "the environment variable {name} is not set: export it in qcb's environment"
                )),
            },
            SecretSource::File(path) => match std::fs::read_to_string(path) {
                Ok(v) if !v.trim().is_empty() => Ok(SecretString::from(v.trim().to_string())),
                Ok(_) => Err(format!("the file {} is empty", path.display())),
                Err(e) => Err(format!("cannot read the file {}: {e}", path.display())),
            },
            SecretSource::Inline(s) => Ok(s.clone()),
        }
    }
}

/// How a tenant signs in.
#[derive(Debug, Clone)]
pub enum CredentialSource {
    ApiKey(SecretSource),
    OAuthClient {
        client_id: String,
        client_secret: SecretSource,
    },
}

/// One tenant's settings, checked.
#[derive(Debug, Clone)]
pub struct TenantConfig {
    /// The tenant's name in this file: labels, state folders, `--tenant NAME`.
    pub name: String,
    pub url: TenantUrl,
    /// The snapshot host of this tenant (its hostname, with the port when there is one).
    pub host: String,
    pub credentials: CredentialSource,
    /// The repository location, as `--repo` takes it.
    pub repository: String,
    pub password: SecretSource,
    pub only: Vec<String>,
    pub exclude: Vec<String>,
    /// Share of Qlik's rate limits a run may use, in (0, 1].
    pub budget: f64,
    pub exports_in_flight: usize,
    pub assign_self_to_spaces: bool,
    pub schedule: Schedule,
    pub prune_schedule: Option<Schedule>,
    pub retention: KeepPolicy,
    pub stale_after: Duration,
    pub notify: Vec<Target>,
    pub anomaly: Thresholds,
}

impl TenantConfig {
    /// A client for this tenant, its credentials read now. `base` carries what the file does
    /// not set (timeouts; an emulator's time scale in tests).
    pub fn client(&self, base: &ClientOptions) -> Result<TenantClient, ConfigError> {
        let secret_error = |what: &'static str, reason: String| ConfigError::Secret {
            tenant: self.name.clone(),
            what,
            reason,
        };
        let creds = match &self.credentials {
            CredentialSource::ApiKey(src) => {
                Credentials::ApiKey(src.read().map_err(|r| secret_error("API key", r))?)
            }
            CredentialSource::OAuthClient {
                client_id,
                client_secret,
            } => Credentials::OAuthClient {
                client_id: client_id.clone(),
                client_secret: client_secret
                    .read()
                    .map_err(|r| secret_error("OAuth client secret", r))?,
                scope: None,
            },
        };
        let opts = ClientOptions {
            budget: Budget {
                fraction: self.budget,
                ..base.budget
            },
            ..base.clone()
        };
        TenantClient::new(self.url.clone(), creds, opts).map_err(|e| ConfigError::Secret {
            tenant: self.name.clone(),
            what: "client settings",
            reason: e.to_string(),
        })
    }

    /// The repository's options, its password read now.
    pub fn repo_options(&self) -> Result<RepoOptions, ConfigError> {
        let password = self.password.read().map_err(|reason| ConfigError::Secret {
            tenant: self.name.clone(),
            what: "repository password",
            reason,
        })?;
        Ok(RepoOptions::new(self.repository.clone(), password).with_default_cache())
    }

    /// What to back up, as `qcb backup` takes it.
    pub fn backup_options(&self) -> qcb_backup::BackupOptions {
        qcb_backup::BackupOptions {
            only: self.only.clone(),
            exclude: self.exclude.clone(),
            exports_in_flight: self.exports_in_flight,
            assign_self_to_spaces: self.assign_self_to_spaces,
            ..qcb_backup::BackupOptions::default()
        }
    }
}

/// The whole file, checked.
#[derive(Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// Where run records and reports go (one folder per tenant).
    pub state_dir: PathBuf,
    /// Runs (of different tenants) `qcb serve` lets go at once; the others wait their turn.
    pub max_concurrent_runs: usize,
    pub tenants: Vec<TenantConfig>,
    /// Things that work but should be fixed (inline secrets in a readable file).
    pub warnings: Vec<String>,
}

/// What the command line adds to the file: the repository flags act as defaults for tenants
/// that name none.
#[derive(Debug, Clone, Default)]
pub struct Fallbacks {
    /// `--repo` / `QCB_REPO`.
    pub repository: Option<String>,
    /// `--password-file` / `QCB_PASSWORD_FILE` / `QCB_PASSWORD`.
    pub password: Option<SecretSource>,
}

impl Fallbacks {
    /// The repository flags and the environment as `qcb` reads them elsewhere.
    pub fn from_env(repository: Option<String>, password_file: Option<PathBuf>) -> Self {
        let env_file = std::env::var_os(qcb_repo::PASSWORD_FILE_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let password = password_file
            .filter(|p| !p.as_os_str().is_empty())
            .or(env_file)
            .map(SecretSource::File)
            .or_else(|| {
                std::env::var(qcb_repo::PASSWORD_ENV)
                    .ok()
                    .filter(|v| !v.is_empty())
                    .map(|_| SecretSource::Env(qcb_repo::PASSWORD_ENV.to_string()))
            });
        Fallbacks {
            repository: repository.filter(|r| !r.trim().is_empty()),
            password,
        }
    }
}

/// The configuration file to read: `--config` / `QCB_CONFIG` when given, else the first of
/// `./qcb.toml`, `$XDG_CONFIG_HOME/qcb/qcb.toml` (`~/.config/qcb/qcb.toml`), `/etc/qcb/qcb.toml`.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(p) = explicit.filter(|p| !p.as_os_str().is_empty()) {
        return Ok(p.to_path_buf());
    }
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let mut candidates = vec![PathBuf::from("qcb.toml")];
    if let Some(x) = var("XDG_CONFIG_HOME") {
        candidates.push(PathBuf::from(x).join("qcb/qcb.toml"));
    } else if let Some(h) = var("HOME") {
        candidates.push(PathBuf::from(h).join(".config/qcb/qcb.toml"));
    }
    candidates.push(PathBuf::from("/etc/qcb/qcb.toml"));
    candidates
        .into_iter()
        .find(|p| p.is_file())
        .ok_or(ConfigError::NotFound)
}

/// The default state folder: `$QCB_STATE_DIR`, else `$XDG_STATE_HOME/qcb`, else
/// `~/.local/state/qcb`, else `./qcb-state`.
pub fn default_state_dir() -> PathBuf {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("QCB_STATE_DIR")
        .or_else(|| var("XDG_STATE_HOME").map(|d| d.join("qcb")))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/qcb")))
        .unwrap_or_else(|| PathBuf::from("qcb-state"))
}

/// Reads and checks the file at `path`.
pub fn load(path: &Path, fallbacks: &Fallbacks) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let private = owner_only(path);
    parse(&text, path, fallbacks, private)
}

/// Whether only the file's owner may read it (mode 600 or stricter). Elsewhere than Unix,
/// assumed.
fn owner_only(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        true
    }
}

/// The file as written. Every tenant setting but `name` and `url` may also stand in
/// `[defaults]`; a tenant's own value replaces the default whole (tables and lists too).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    state_dir: Option<PathBuf>,
    max_concurrent_runs: Option<usize>,
    defaults: Option<RawTenant>,
    #[serde(default)]
    tenants: Vec<RawTenant>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawTenant {
    name: Option<String>,
    url: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    api_key: Option<SecretString>,
    client_id: Option<String>,
    client_secret_env: Option<String>,
    client_secret_file: Option<PathBuf>,
    client_secret: Option<SecretString>,
    repository: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    password: Option<SecretString>,
    only: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    budget: Option<f64>,
    exports: Option<usize>,
    assign_self_to_spaces: Option<bool>,
    schedule: Option<String>,
    timezone: Option<String>,
    prune_schedule: Option<String>,
    stale_after: Option<String>,
    retention: Option<RawRetention>,
    notify: Option<Vec<Target>>,
    anomaly: Option<Thresholds>,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    #[serde(default)]
    keep_last: u32,
    #[serde(default)]
    keep_daily: u32,
    #[serde(default)]
    keep_weekly: u32,
    #[serde(default)]
    keep_monthly: u32,
    #[serde(default)]
    keep_yearly: u32,
}

/// Parses the text of a configuration file (`path` only names it in messages). `private`
/// says whether the file is readable by its owner only.
pub fn parse(
    text: &str,
    path: &Path,
    fallbacks: &Fallbacks,
    private: bool,
) -> Result<Config, ConfigError> {
    let raw: RawFile = toml::from_str(text).map_err(|e| syntax_error(text, path, &e))?;
    let file_err = |message: String| ConfigError::File {
        path: path.to_path_buf(),
        message,
    };
    if raw.tenants.is_empty() {
        return Err(file_err(
            "no tenant: add a [[tenants]] table with at least `name` and `url` (see qcb.example.toml)".into(),
        ));
    }
    let defaults = raw.defaults.unwrap_or_default();
    if defaults.name.is_some() || defaults.url.is_some() {
        return Err(file_err(
            "[defaults] cannot hold `name` or `url`: they belong to each [[tenants]] table".into(),
        ));
    }
    let mut warnings = Vec::new();
    let mut tenants: Vec<TenantConfig> = Vec::new();
    for (i, t) in raw.tenants.into_iter().enumerate() {
        let tenant = check_tenant(t, &defaults, i, path, fallbacks, private, &mut warnings)?;
        if tenants.iter().any(|o| o.name == tenant.name) {
            return Err(file_err(format!(
                "two tenants are named `{}`: give each [[tenants]] table its own name",
                tenant.name
            )));
        }
        tenants.push(tenant);
    }
    shared_repositories_agree(&tenants, path)?;
    let max_concurrent_runs = raw
        .max_concurrent_runs
        .unwrap_or(DEFAULT_MAX_CONCURRENT_RUNS);
    if max_concurrent_runs == 0 {
        return Err(file_err("`max_concurrent_runs` must be at least 1".into()));
    }
    Ok(Config {
        path: path.to_path_buf(),
        state_dir: raw.state_dir.unwrap_or_else(default_state_dir),
        max_concurrent_runs,
        tenants,
        warnings,
    })
}

/// TOML's own message with the line and column, but not its excerpt of the file: that line
/// may hold a secret.
fn syntax_error(text: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let offset = e.span().map_or(0, |s| s.start).min(text.len());
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message: e.message().trim().to_string(),
    }
}

/// Two entries for the same tenant in the same repository must agree on its retention: each
/// tenant's policy applies to its own snapshots only, so different tenants may differ.
fn shared_repositories_agree(tenants: &[TenantConfig], path: &Path) -> Result<(), ConfigError> {
    for (i, a) in tenants.iter().enumerate() {
        for b in &tenants[i + 1..] {
            if a.repository == b.repository && a.host == b.host && a.retention != b.retention {
                return Err(ConfigError::Tenant {
                    path: path.to_path_buf(),
                    tenant: b.name.clone(),
                    field: "retention",
                    message: format!(
                        "differs from tenant `{}`'s, which backs up the same Qlik tenant into the same repository: give them the same policy",
                        a.name
                    ),
                });
            }
        }
    }
    Ok(())
}

fn check_tenant(
    t: RawTenant,
    d: &RawTenant,
    index: usize,
    path: &Path,
    fallbacks: &Fallbacks,
    private: bool,
    warnings: &mut Vec<String>,
) -> Result<TenantConfig, ConfigError> {
    let Some(name) = t.name.clone() else {
        return Err(ConfigError::File {
            path: path.to_path_buf(),
            message: format!(
                "the {} [[tenants]] table has no `name`: give each tenant a short name (letters, digits, `.`, `_`, `-`)",
                ordinal(index + 1)
            ),
        });
    };
    let err = |field: &'static str, message: String| ConfigError::Tenant {
        path: path.to_path_buf(),
        tenant: name.clone(),
        field,
        message,
    };
    if name.is_empty()
        || name.starts_with('.')
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(err(
            "name",
            "may hold only letters, digits, `.`, `_` and `-` (it names a folder and a metrics label)".into(),
        ));
    }
    let Some(raw_url) = t.url.as_deref() else {
        return Err(err(
            "url",
            "is missing: give the tenant's address, e.g. https://acme.eu.qlikcloud.com".into(),
        ));
    };
    let url = TenantUrl::parse(raw_url).map_err(|e| err("url", format!("is not usable: {e}")))?;
    let host = {
        let s = url.as_str();
        let rest = s.split("://").nth(1).unwrap_or(s);
        rest.split('/').next().unwrap_or(rest).to_string()
    };

    // A tenant that says how it signs in (or where its password is) replaces the defaults'
    // way whole, rather than mixing with it.
    let own_credentials = t.api_key_env.is_some()
        || t.api_key_file.is_some()
        || t.api_key.is_some()
        || t.client_id.is_some()
        || t.client_secret_env.is_some()
        || t.client_secret_file.is_some()
        || t.client_secret.is_some();
    let c = if own_credentials { &t } else { d };
    let mut inline = Vec::new();
    let api_key = secret(
        "api_key",
        c.api_key_env.clone(),
        c.api_key_file.clone(),
        copy_secret(&c.api_key),
        &err,
        &mut inline,
    )?;
    let client_secret = secret(
        "client_secret",
        c.client_secret_env.clone(),
        c.client_secret_file.clone(),
        copy_secret(&c.client_secret),
        &err,
        &mut inline,
    )?;
    let client_id = c.client_id.clone();
    let credentials = match (api_key, client_id, client_secret) {
        (Some(_), Some(_), _) => return Err(err("api_key", "and `client_id` are both given: use an API key or an OAuth client, not both".into())),
        (Some(k), None, None) => CredentialSource::ApiKey(k),
        (Some(_), None, Some(_)) => return Err(err("client_secret", "is given without `client_id`".into())),
        (None, Some(id), Some(s)) => CredentialSource::OAuthClient { client_id: id, client_secret: s },
        (None, Some(_), None) => return Err(err("client_id", "needs `client_secret_env` or `client_secret_file`".into())),
        (None, None, _) => return Err(err("api_key_env", "is missing: give `api_key_env` or `api_key_file` (an admin's API key), or `client_id` with `client_secret_env` or `client_secret_file` (an OAuth M2M client, best with admin.apps)".into())),
    };

    let repository = t
        .repository
        .clone()
        .or(d.repository.clone())
        .or(fallbacks.repository.clone())
        .filter(|r| !r.trim().is_empty())
        .ok_or_else(|| {
            err(
                "repository",
                "is missing: give the repository's location (a folder, or s3:, azblob:, gcs:, sftp:), here, in [defaults], or with --repo / QCB_REPO".into(),
            )
        })?;
    let own_password =
        t.password_env.is_some() || t.password_file.is_some() || t.password.is_some();
    let p = if own_password { &t } else { d };
    let password = match secret(
        "password",
        p.password_env.clone(),
        p.password_file.clone(),
        copy_secret(&p.password),
        &err,
        &mut inline,
    )? {
        Some(p) => p,
        None => fallbacks.password.clone().ok_or_else(|| {
            err(
                "password_file",
                "is missing: say where the repository password comes from (`password_file` or `password_env`), or set QCB_PASSWORD_FILE".into(),
            )
        })?,
    };
    let notify = t.notify.clone().or(d.notify.clone()).unwrap_or_default();
    for field in notify.iter().flat_map(Target::inline_secrets) {
        if !inline.contains(&field) {
            inline.push(field);
        }
    }
    if !inline.is_empty() && !private {
        warnings.push(format!(
            "{}: tenant `{name}` has {} written into the file, which others may read: run `chmod 600 {}`, or use the `_env` or `_file` form",
            path.display(),
            inline.join(", "),
            path.display()
        ));
    }

    let only = t.only.clone().or(d.only.clone()).unwrap_or_default();
    let exclude = t.exclude.clone().or(d.exclude.clone()).unwrap_or_default();
    for (field, names) in [("only", &only), ("exclude", &exclude)] {
        if let Some(bad) = names.iter().find(|k| qcb_catalog::kind(k).is_none()) {
            return Err(err(
                field,
                format!("names `{bad}`, which is no component kind (see `qcb kinds`)"),
            ));
        }
    }
    let budget = t.budget.or(d.budget).unwrap_or(1.0);
    if !(budget > 0.0 && budget <= 1.0) {
        return Err(err(
            "budget",
            format!(
                "must be more than 0 and at most 1 (a share of Qlik's rate limits), not {budget}"
            ),
        ));
    }
    let exports_in_flight = t
        .exports
        .or(d.exports)
        .unwrap_or(qcb_backup::DEFAULT_EXPORTS_IN_FLIGHT);
    if exports_in_flight == 0 {
        return Err(err("exports", "must be at least 1".into()));
    }
    let zone = match t.timezone.as_deref().or(d.timezone.as_deref()) {
        None => Zone::Utc,
        Some(z) if z.eq_ignore_ascii_case("utc") => Zone::Utc,
        Some(z) if z.eq_ignore_ascii_case("local") => Zone::Local,
        Some(z) => match z.parse::<chrono_tz::Tz>() {
            Ok(tz) => Zone::Named(tz),
            Err(_) => {
                return Err(err(
                    "timezone",
                    format!(
                        "is `{z}`: use \"UTC\" (the default), \"local\" (this machine's time zone) or a zone of the IANA database such as \"Europe/Stockholm\""
                    ),
                ))
            }
        },
    };
    let schedule_text = t
        .schedule
        .clone()
        .or(d.schedule.clone())
        .unwrap_or_else(|| DEFAULT_SCHEDULE.to_string());
    let schedule =
        Schedule::parse(&schedule_text, zone).map_err(|e| err("schedule", e.to_string()))?;
    let prune_schedule = match t.prune_schedule.as_deref().or(d.prune_schedule.as_deref()) {
        Some(s) if !s.trim().is_empty() => {
            Some(Schedule::parse(s, zone).map_err(|e| err("prune_schedule", e.to_string()))?)
        }
        _ => None,
    };
    let stale_after = match t.stale_after.as_deref().or(d.stale_after.as_deref()) {
        Some(s) => parse_duration(s).map_err(|m| err("stale_after", m))?,
        None => DEFAULT_STALE_AFTER,
    };
    let r = t.retention.or(d.retention).unwrap_or_default();
    let retention = KeepPolicy {
        last: r.keep_last,
        daily: r.keep_daily,
        weekly: r.keep_weekly,
        monthly: r.keep_monthly,
        yearly: r.keep_yearly,
    };
    Ok(TenantConfig {
        name: name.clone(),
        url,
        host,
        credentials,
        repository,
        password,
        only,
        exclude,
        budget,
        exports_in_flight,
        assign_self_to_spaces: t
            .assign_self_to_spaces
            .or(d.assign_self_to_spaces)
            .unwrap_or(false),
        schedule,
        prune_schedule,
        retention,
        stale_after,
        notify,
        anomaly: t.anomaly.or(d.anomaly.clone()).unwrap_or_default(),
    })
}

fn copy_secret(s: &Option<SecretString>) -> Option<SecretString> {
    s.as_ref()
        .map(|s| SecretString::from(s.expose_secret().to_string()))
}

/// One secret from its three possible forms (`<field>_env`, `<field>_file`, `<field>`), of
/// which at most one may be given.
fn secret(
    field: &'static str,
    env: Option<String>,
    file: Option<PathBuf>,
    inline: Option<SecretString>,
    err: &dyn Fn(&'static str, String) -> ConfigError,
    inline_fields: &mut Vec<&'static str>,
) -> Result<Option<SecretSource>, ConfigError> {
    let given =
        usize::from(env.is_some()) + usize::from(file.is_some()) + usize::from(inline.is_some());
    if given > 1 {
        return Err(err(
            field,
            format!("is given more than one way: keep one of `{field}_env`, `{field}_file` and `{field}`"),
        ));
    }
    if let Some(name) = env {
        if name.trim().is_empty() || name.contains('=') {
            return Err(err(
                field,
                format!(
                    "_env must name an environment variable (e.g. ACME_QLIK_{})",
                    field.to_uppercase()
                ),
            ));
        }
        return Ok(Some(SecretSource::Env(name)));
    }
    if let Some(f) = file {
        return Ok(Some(SecretSource::File(f)));
    }
    Ok(inline.map(|s| {
        inline_fields.push(field);
        SecretSource::Inline(s)
    }))
}

fn ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// `90s`, `45m`, `26h`, `2d`, `1w`, or a sum of them (`1d12h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || format!("is `{text}`: write a duration like 26h, 90m, 2d or 1d12h");
    let mut total: u64 = 0;
    let mut number = String::new();
    let mut any = false;
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            'w' => 7 * 86_400,
            ' ' if number.is_empty() => continue,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
        number.clear();
        any = true;
    }
    if !number.is_empty() || !any || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// `26h`, `1d2h`, `45m`: a duration as `stale_after` takes it.
pub fn show_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    let mut out = String::new();
    for (unit, secs) in [("d", 86_400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= secs {
            out.push_str(&format!("{}{unit}", s / secs));
            s %= secs;
        }
    }
    if out.is_empty() {
        out.push_str("0s");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Config, ConfigError> {
        parse(
            text,
            Path::new("/etc/qcb/qcb.toml"),
            &Fallbacks::default(),
            true,
        )
    }

    const MINIMAL: &str = r#"
        [[tenants]]
        name = "acme"
        url = "https://acme.eu.qlikcloud.com"
        api_key_env = "ACME_KEY"
        repository = "/srv/qcb"
        password_file = "/etc/qcb/password"
    "#;

    #[test]
    fn a_minimal_tenant_gets_the_defaults() {
        let c = parse_str(MINIMAL).unwrap();
        let t = &c.tenants[0];
        assert_eq!(t.host, "acme.eu.qlikcloud.com");
        assert_eq!(t.schedule.as_str(), DEFAULT_SCHEDULE);
        assert_eq!(t.stale_after, DEFAULT_STALE_AFTER);
        assert!(t.retention.is_empty());
        assert!(
            matches!(&t.credentials, CredentialSource::ApiKey(SecretSource::Env(n)) if n == "ACME_KEY")
        );
        assert!(c.warnings.is_empty());
    }

    #[test]
    fn defaults_fill_in_and_tenants_override() {
        let text = r#"
            state_dir = "/var/lib/qcb"
            [defaults]
            repository = "s3:backups/qlik"
            password_env = "QCB_REPO_PASSWORD"
            schedule = "30 1 * * *"
            [defaults.retention]
            keep_daily = 7
            [[tenants]]
            name = "a"
            url = "https://a.eu.qlikcloud.com"
            client_id = "id"
            client_secret_file = "/run/secrets/a"
            [[tenants]]
            name = "b"
            url = "https://b.us.qlikcloud.com"
            api_key_file = "/run/secrets/b"
            schedule = "0 3 * * 1-5"
            budget = 0.5
        "#;
        let c = parse_str(text).unwrap();
        assert_eq!(c.state_dir, PathBuf::from("/var/lib/qcb"));
        assert_eq!(c.tenants[0].repository, "s3:backups/qlik");
        assert_eq!(c.tenants[0].schedule.as_str(), "30 1 * * *");
        assert_eq!(c.tenants[1].schedule.as_str(), "0 3 * * 1-5");
        assert_eq!(c.tenants[1].retention.daily, 7);
        assert_eq!(c.tenants[1].budget, 0.5);
    }

    fn error_of(text: &str) -> String {
        parse_str(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_name_the_file_the_tenant_the_field_and_the_fix() {
        let e = error_of(&MINIMAL.replace("api_key_env", "api_key_envv"));
        assert!(e.starts_with("/etc/qcb/qcb.toml, line 5"), "{e}");
        assert!(e.contains("unknown field `api_key_envv`"), "{e}");

        let e = error_of(&MINIMAL.replace("api_key_env = \"ACME_KEY\"", ""));
        assert!(
            e.contains(
                "tenant `acme`: `api_key_env` is missing: give `api_key_env` or `api_key_file`"
            ),
            "{e}"
        );

        let e = error_of(&MINIMAL.replace("[[tenants]]", "[[tenants]]\nschedule = \"61 * * * *\""));
        assert!(
            e.contains("/etc/qcb/qcb.toml: tenant `acme`: `schedule`"),
            "{e}"
        );

        let e = error_of(&MINIMAL.replace("eu.qlikcloud", "euu.qlikcloud"));
        assert!(e.contains("tenant `acme`: `url` is not usable"), "{e}");

        let e =
            error_of(&MINIMAL.replace("[[tenants]]", "[[tenants]]\nonly = [\"apps\", \"aps\"]"));
        assert!(
            e.contains("`only` names `aps`, which is no component kind"),
            "{e}"
        );

        let e = error_of(&MINIMAL.replace("[[tenants]]", "[[tenants]]\nbudget = 1.5"));
        assert!(
            e.contains("`budget` must be more than 0 and at most 1"),
            "{e}"
        );

        let e = error_of(&MINIMAL.replace("[[tenants]]", "[[tenants]]\nstale_after = \"soon\""));
        assert!(
            e.contains("`stale_after` is `soon`: write a duration like 26h"),
            "{e}"
        );

        let e = error_of(&MINIMAL.replace("[[tenants]]", "[[tenants]]\napi_key_file = \"/k\""));
        assert!(e.contains("`api_key` is given more than one way"), "{e}");

        let e = error_of(&MINIMAL.replace("repository = \"/srv/qcb\"", ""));
        assert!(
            e.contains("`repository` is missing") && e.contains("QCB_REPO"),
            "{e}"
        );

        let e = error_of(&format!("{MINIMAL}\n{MINIMAL}"));
        assert!(e.contains("two tenants are named `acme`"), "{e}");

        let e = error_of("state_dir = \"/x\"\n");
        assert!(e.contains("no tenant: add a [[tenants]] table"), "{e}");

        let e = error_of("[[tenants]\nname = 1");
        assert!(e.starts_with("/etc/qcb/qcb.toml, line 1"), "{e}");
    }

    #[test]
    fn tenants_sharing_a_repository_keep_their_own_retention() {
        // Two entries for one Qlik tenant in one repository must agree…
        let two = format!(
            "{}\n[tenants.retention]\nkeep_daily = 7\n{}\n[tenants.retention]\nkeep_daily = 3\n",
            MINIMAL,
            MINIMAL.replace("\"acme\"", "\"other\"")
        );
        let e = error_of(&two);
        assert!(
            e.contains("tenant `other`: `retention` differs from tenant `acme`'s"),
            "{e}"
        );
        // …different tenants sharing a repository each keep their own policy.
        let two = format!(
            "{}\n[tenants.retention]\nkeep_daily = 7\n{}\n[tenants.retention]\nkeep_daily = 3\n",
            MINIMAL,
            MINIMAL
                .replace("\"acme\"", "\"other\"")
                .replace("acme.eu.qlikcloud.com", "other.eu.qlikcloud.com")
        );
        let c = parse_str(&two).unwrap();
        assert_eq!(c.tenants[0].retention.daily, 7);
        assert_eq!(c.tenants[1].retention.daily, 3);
    }

    #[test]
    fn inline_secrets_warn_unless_the_file_is_private_and_never_show() {
        let text = MINIMAL.replace(
            "api_key_env = \"ACME_KEY\"",
            "api_key = \"QCBSECRET-inline\"",
        );
        let private = parse(&text, Path::new("q.toml"), &Fallbacks::default(), true).unwrap();
        assert!(private.warnings.is_empty());
        let open = parse(&text, Path::new("q.toml"), &Fallbacks::default(), false).unwrap();
        assert_eq!(open.warnings.len(), 1);
        assert!(
            open.warnings[0].contains("chmod 600 q.toml") && open.warnings[0].contains("api_key")
        );
        let shown = format!("{open:?} {}", open.warnings[0]);
        assert!(!shown.contains("QCBSECRET"), "{shown}");
        let key = match &open.tenants[0].credentials {
            CredentialSource::ApiKey(s) => s.read().unwrap(),
            CredentialSource::OAuthClient { .. } => panic!("an API key"),
        };
        assert_eq!(key.expose_secret(), "QCBSECRET-inline");
    }

    #[test]
    fn alert_secrets_come_from_env_or_file_and_inline_ones_warn() {
        let external = format!(
            r#"{MINIMAL}
            [[tenants.notify]]
            type = "slack"
            webhook_url_env = "QCB_SLACK_URL"
            [[tenants.notify]]
            type = "teams"
            webhook_url_file = "/run/secrets/teams"
            [[tenants.notify]]
            type = "healthchecks"
            ping_url_file = "/run/secrets/ping"
            [[tenants.notify]]
            type = "webhook"
            url_env = "QCB_HOOK_URL"
            headers = {{ Authorization = {{ file = "/run/secrets/hook-token" }} }}
            "#
        );
        let c = parse(&external, Path::new("q.toml"), &Fallbacks::default(), false).unwrap();
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let described: Vec<String> = c.tenants[0].notify.iter().map(Target::describe).collect();
        assert_eq!(described[0], "slack (URL in $QCB_SLACK_URL)");
        assert_eq!(described[1], "teams (URL in the file /run/secrets/teams)");

        let inline = format!(
            r#"{MINIMAL}
            [[tenants.notify]]
            type = "slack"
            webhook_url = "https://hooks.slack.com/services/T0/B0/QCBSECRET-slack"
            [[tenants.notify]]
            type = "webhook"
            url_env = "QCB_HOOK_URL"
            headers = {{ Authorization = "Bearer QCBSECRET-header" }}
            "#
        );
        let private = parse(&inline, Path::new("q.toml"), &Fallbacks::default(), true).unwrap();
        assert!(private.warnings.is_empty());
        let open = parse(&inline, Path::new("q.toml"), &Fallbacks::default(), false).unwrap();
        assert_eq!(open.warnings.len(), 1, "{:?}", open.warnings);
        let w = &open.warnings[0];
        assert!(
            w.contains("the `webhook_url` of a slack alert")
                && w.contains("the `headers` of a webhook alert")
                && w.contains("chmod 600 q.toml"),
            "{w}"
        );
        let shown = format!("{open:?} {w}");
        assert!(!shown.contains("QCBSECRET"), "{shown}");

        let both = MINIMAL.to_string()
            + "[[tenants.notify]]\ntype = \"slack\"\nwebhook_url = \"https://hooks.slack.com/x\"\nwebhook_url_env = \"X\"\n";
        let e = error_of(&both);
        assert!(
            e.contains("`webhook_url` is given more than one way"),
            "{e}"
        );
        let none = MINIMAL.to_string() + "[[tenants.notify]]\ntype = \"teams\"\n";
        let e = error_of(&none);
        assert!(
            e.contains("`webhook_url` is missing: give `webhook_url_env`"),
            "{e}"
        );
        let stray = MINIMAL.to_string()
            + "[[tenants.notify]]\ntype = \"webhook\"\nurl_env = \"X\"\nheaders = { A = { vault = \"x\" } }\n";
        let e = error_of(&stray);
        assert!(e.contains("unknown key `vault` in a header value"), "{e}");
    }

    #[test]
    fn secrets_come_from_files_and_errors_name_the_source_only() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("key");
        std::fs::write(&f, "QCBSECRET-from-file\n").unwrap();
        assert_eq!(
            SecretSource::File(f).read().unwrap().expose_secret(),
            "QCBSECRET-from-file"
        );
        let e = SecretSource::Env("QCB_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(e.contains("QCB_TEST_SURELY_UNSET_VAR is not set"), "{e}");
        let e = SecretSource::File(dir.path().join("missing"))
            .read()
            .unwrap_err();
        assert!(e.contains("cannot read the file"), "{e}");
    }

    #[test]
    fn the_repository_flags_fill_in() {
        let text = MINIMAL
            .replace("repository = \"/srv/qcb\"", "")
            .replace("password_file = \"/etc/qcb/password\"", "");
        let fb = Fallbacks {
            repository: Some("/from/flag".into()),
            password: Some(SecretSource::Env("QCB_PASSWORD".into())),
        };
        let c = parse(&text, Path::new("q.toml"), &fb, true).unwrap();
        assert_eq!(c.tenants[0].repository, "/from/flag");
    }

    #[test]
    fn the_example_file_parses() {
        let text = include_str!("../../../qcb.example.toml");
        let c = parse_str(text).unwrap();
        assert!(c.tenants.len() >= 2);
        // It shows the `_env` and `_file` forms only: no warning even when others may read it.
        let open = parse(text, Path::new("q.toml"), &Fallbacks::default(), false).unwrap();
        assert!(open.warnings.is_empty(), "{:?}", open.warnings);
    }

    #[test]
    fn the_kubernetes_example_runs_tenants_of_its_config() {
        let yaml = include_str!("../../../deploy/kubernetes/qcb-cronjobs.yaml");
        let marker = "  qcb.toml: |\n";
        let start = yaml.find(marker).expect("the embedded qcb.toml") + marker.len();
        let toml: Vec<&str> = yaml[start..]
            .lines()
            .take_while(|l| l.is_empty() || l.starts_with("    "))
            .map(|l| l.get(4..).unwrap_or(""))
            .collect();
        let c = parse_str(&toml.join("\n")).unwrap();
        assert!(c.warnings.is_empty());
        for t in &c.tenants {
            let args = format!(
                "args: [\"serve\", \"--once\", \"--tenant\", \"{}\"]",
                t.name
            );
            assert!(yaml.contains(&args), "a CronJob for {}", t.name);
        }
        // And one prune per repository.
        let mut repositories: Vec<&str> = c.tenants.iter().map(|t| t.repository.as_str()).collect();
        repositories.dedup();
        assert_eq!(repositories.len(), 1);
        assert!(yaml.contains("args: [\"serve\", \"--once\", \"--prune\"]"));
        assert_eq!(
            yaml.matches("kind: CronJob").count(),
            c.tenants.len() + repositories.len()
        );
        // The file holds no secret: the alert URL is a file too.
        assert!(c.tenants[0]
            .notify
            .iter()
            .all(|t| t.inline_secrets().is_empty()));
        assert!(!yaml.contains("hooks.slack.com/services/T"));
    }

    #[test]
    fn durations_read_and_show() {
        assert_eq!(
            parse_duration("26h").unwrap(),
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(
            parse_duration("1d12h").unwrap(),
            Duration::from_secs(36 * 3600)
        );
        assert_eq!(parse_duration("90m").unwrap(), Duration::from_secs(5400));
        assert!(
            parse_duration("26").is_err()
                && parse_duration("h").is_err()
                && parse_duration("0s").is_err()
        );
        assert_eq!(show_duration(Duration::from_secs(93_600)), "1d2h");
    }
}
