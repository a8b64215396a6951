//! Repository locations (DESIGN.md §6): a folder path, or an `s3:`, `azblob:`, `gcs:` or `sftp:`
//! URL, and the `opendal` operator each one becomes. The forms follow restic's where they can.
//! Credentials never come from the URL: only from the environment ([`StorageEnv`]), and a URL
//! that carries one is refused without being repeated.

use std::fmt;
use std::path::PathBuf;

use opendal::services;
use opendal::Operator;

use crate::env::StorageEnv;
use crate::error::RepoError;

/// The kind of storage a repository is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Local,
    S3,
    Azure,
    Gcs,
    Sftp,
    #[cfg(test)]
    Memory,
}

impl Backend {
    /// The name people know the service by.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Local => "local folder",
            Self::S3 => "S3",
            Self::Azure => "Azure Blob Storage",
            Self::Gcs => "Google Cloud Storage",
            Self::Sftp => "SFTP",
            #[cfg(test)]
            Self::Memory => "memory",
        }
    }

    /// Whether folders are only name prefixes (nothing to create, nothing to rename).
    pub(crate) fn is_object_store(self) -> bool {
        matches!(self, Self::S3 | Self::Azure | Self::Gcs)
    }

    pub(crate) fn is_remote(self) -> bool {
        matches!(self, Self::S3 | Self::Azure | Self::Gcs | Self::Sftp)
    }

    /// What the top-level namespace is called.
    pub(crate) fn container(self) -> &'static str {
        match self {
            Self::Azure => "container",
            _ => "bucket",
        }
    }

    /// What to check when the service cannot be reached.
    pub(crate) fn check_reach(self) -> &'static str {
        match self {
            Self::S3 => "the endpoint in --repo / QCB_REPO (or AWS_ENDPOINT_URL), and the network",
            Self::Azure => "the account (AZURE_STORAGE_ACCOUNT, or BlobEndpoint in AZURE_STORAGE_CONNECTION_STRING), and the network",
            Self::Gcs => "the network (and STORAGE_EMULATOR_HOST, if you use an emulator)",
            Self::Sftp => "the host and port in --repo / QCB_REPO, and that an SSH server runs there",
            _ => "the path in --repo / QCB_REPO",
        }
    }

    /// What to check when the service refuses the credentials.
    pub(crate) fn check_access(self) -> &'static str {
        match self {
            Self::S3 => "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN), and that they may use this bucket",
            Self::Azure => "AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or AZURE_STORAGE_CONNECTION_STRING, and that they belong to this account",
            Self::Gcs => "GOOGLE_APPLICATION_CREDENTIALS (a service account key file) and its permissions on the bucket",
            Self::Sftp => "the user in --repo / QCB_REPO and the SSH key (QCB_SFTP_KEY, or IdentityFile in ~/.ssh/config)",
            _ => "the permissions of the folder",
        }
    }
}

/// A parsed repository location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Location {
    /// A folder on a local (or mounted) file system.
    Local(PathBuf),
    /// An S3 bucket; `endpoint` is `None` for AWS (or `AWS_ENDPOINT_URL`).
    S3 {
        endpoint: Option<String>,
        bucket: String,
        prefix: String,
    },
    /// An Azure Blob container of the account the environment names.
    Azure { container: String, prefix: String },
    /// A Google Cloud Storage bucket.
    Gcs { bucket: String, prefix: String },
    /// A folder on an SSH server (an absolute path).
    Sftp {
        user: Option<String>,
        host: String,
        port: Option<u16>,
        path: String,
    },
}

impl Location {
    /// Parses `--repo` / `QCB_REPO`.
    pub(crate) fn parse(location: &str) -> Result<Self, RepoError> {
        let trimmed = location.trim();
        if trimmed.is_empty() {
            return Err(RepoError::NoLocation);
        }
        let invalid = |reason: &str| RepoError::InvalidLocation {
            location: mask_credentials(trimmed),
            reason: reason.to_string(),
        };
        if let Some(rest) = trimmed.strip_prefix("s3:") {
            return parse_s3(rest).map_err(|r| invalid(&r));
        }
        if let Some(rest) = trimmed.strip_prefix("azblob:") {
            return parse_bucket(rest, "container", "azblob:container/prefix")
                .map(|(container, prefix)| Self::Azure { container, prefix })
                .map_err(|r| invalid(&r));
        }
        if let Some(rest) = trimmed.strip_prefix("gcs:") {
            return parse_bucket(rest, "bucket", "gcs:bucket/prefix")
                .map(|(bucket, prefix)| Self::Gcs { bucket, prefix })
                .map_err(|r| invalid(&r));
        }
        if let Some(rest) = trimmed.strip_prefix("sftp:") {
            return parse_sftp(rest).map_err(|r| invalid(&r));
        }
        // restic's other schemes: say what to write instead of taking them for a folder name.
        for (scheme, instead) in [
            ("azure:", "write azblob:container/prefix"),
            ("gs:", "write gcs:bucket/prefix"),
            (
                "b2:",
                "use B2's S3 endpoint: s3:https://s3.<region>.backblazeb2.com/bucket/prefix",
            ),
            (
                "rest:",
                "qcb has no REST-server backend; use s3:, azblob:, gcs:, sftp: or a folder",
            ),
            (
                "rclone:",
                "qcb has no rclone backend; use s3:, azblob:, gcs:, sftp: or a folder",
            ),
            (
                "swift:",
                "qcb has no Swift backend; use s3:, azblob:, gcs:, sftp: or a folder",
            ),
        ] {
            if trimmed.starts_with(scheme) {
                return Err(invalid(instead));
            }
        }
        let path = trimmed.strip_prefix("local:").unwrap_or(trimmed);
        Ok(Self::Local(PathBuf::from(path)))
    }

    pub(crate) fn backend(&self) -> Backend {
        match self {
            Self::Local(_) => Backend::Local,
            Self::S3 { .. } => Backend::S3,
            Self::Azure { .. } => Backend::Azure,
            Self::Gcs { .. } => Backend::Gcs,
            Self::Sftp { .. } => Backend::Sftp,
        }
    }

    /// The bucket or container, for object stores.
    pub(crate) fn container_name(&self) -> Option<&str> {
        match self {
            Self::S3 { bucket, .. } | Self::Gcs { bucket, .. } => Some(bucket),
            Self::Azure { container, .. } => Some(container),
            _ => None,
        }
    }

    /// The `opendal` operator of a remote location, and the endpoint to name in errors. Local
    /// folders are set up by `Storage::connect` (they need checks on the file system first).
    pub(crate) fn remote_operator(
        &self,
        env: &StorageEnv,
        runtime: &tokio::runtime::Runtime,
    ) -> Result<(Operator, String), RepoError> {
        let setup = |reason: String| RepoError::StorageSetup {
            backend: self.backend().name(),
            location: self.to_string(),
            reason,
        };
        let built = match self {
            Self::S3 {
                endpoint,
                bucket,
                prefix,
            } => s3_operator(endpoint.as_deref(), bucket, prefix, env, runtime),
            Self::Azure { container, prefix } => azure_operator(container, prefix, env),
            Self::Gcs { bucket, prefix } => gcs_operator(bucket, prefix, env),
            Self::Sftp {
                user,
                host,
                port,
                path,
            } => sftp_operator(user.as_deref(), host, *port, path, env),
            Self::Local(_) => Err("a local folder has no remote operator".to_string()),
        };
        built.map_err(setup)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tail = |prefix: &str| {
            if prefix.is_empty() {
                String::new()
            } else {
                format!("/{prefix}")
            }
        };
        match self {
            Self::Local(p) => write!(f, "{}", p.display()),
            Self::S3 {
                endpoint: Some(endpoint),
                bucket,
                prefix,
            } => write!(f, "s3:{endpoint}/{bucket}{}", tail(prefix)),
            Self::S3 {
                endpoint: None,
                bucket,
                prefix,
            } => write!(f, "s3:{bucket}{}", tail(prefix)),
            Self::Azure { container, prefix } => write!(f, "azblob:{container}{}", tail(prefix)),
            Self::Gcs { bucket, prefix } => write!(f, "gcs:{bucket}{}", tail(prefix)),
            Self::Sftp {
                user,
                host,
                port,
                path,
            } => {
                f.write_str("sftp://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if let Some(port) = port {
                    write!(f, ":{port}")?;
                }
                f.write_str(path)
            }
        }
    }
}

/// `location` with anything that looks like a credential (`user:secret@`, a query string)
/// replaced by `***`, for error messages.
fn mask_credentials(location: &str) -> String {
    let mut shown = match location.split_once('?') {
        Some((before, _)) => format!("{before}?***"),
        None => location.to_string(),
    };
    let start = shown
        .find("://")
        .map_or_else(|| shown.find(':').map_or(0, |i| i + 1), |i| i + 3);
    let end = shown[start..].find('/').map_or(shown.len(), |i| start + i);
    if let Some(at) = shown[start..end].rfind('@') {
        let userinfo = &shown[start..start + at];
        // An SSH user name is no secret; anything else before `@` may be one.
        let masked = match userinfo.split_once(':') {
            Some((user, _)) if shown.starts_with("sftp:") => format!("{user}:***"),
            None if shown.starts_with("sftp:") => userinfo.to_string(),
            _ => "***".to_string(),
        };
        shown.replace_range(start..start + at, &masked);
    }
    shown
}

/// A bucket and the prefix below it: `bucket[/prefix]`.
fn parse_bucket(rest: &str, what: &str, form: &str) -> Result<(String, String), String> {
    if rest.contains("://") {
        return Err(format!(
            "write {form}; the endpoint and the credentials come from the environment (see `qcb init --help`)"
        ));
    }
    if rest.contains('@') {
        return Err(format!(
            "credentials never go into the repository URL; write {form} and set them in the environment"
        ));
    }
    if rest.contains(['?', '#']) || rest.chars().any(char::is_whitespace) {
        return Err(format!("write {form} (no query, fragment or whitespace)"));
    }
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let Some(bucket) = parts.next() else {
        return Err(format!("name the {what}: {form}"));
    };
    let prefix: Vec<&str> = parts.collect();
    if prefix.iter().any(|p| *p == "." || *p == "..") {
        return Err("`.` and `..` are not allowed in the prefix".to_string());
    }
    Ok((bucket.to_string(), prefix.join("/")))
}

/// `s3:https://host[:port]/bucket[/prefix]`, `s3:s3.<region>.amazonaws.com/bucket[/prefix]`
/// (restic's form) or `s3:bucket[/prefix]` (AWS, or `AWS_ENDPOINT_URL`).
fn parse_s3(rest: &str) -> Result<Location, String> {
    const FORM: &str = "s3:https://host[:port]/bucket/prefix or s3:bucket/prefix";
    let scheme = ["https://", "http://"]
        .into_iter()
        .find(|s| rest.starts_with(s));
    let (endpoint, path) = match scheme {
        Some(scheme) => {
            let after = &rest[scheme.len()..];
            let (authority, path) = after.split_at(after.find('/').unwrap_or(after.len()));
            if authority.contains('@') {
                return Err(
                    "credentials never go into the repository URL: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                        .to_string(),
                );
            }
            if authority.is_empty() {
                return Err(format!("name the host: {FORM}"));
            }
            (Some(format!("{scheme}{authority}")), path)
        }
        None if rest.contains("://") => {
            return Err(format!(
                "only http:// and https:// endpoints are supported: {FORM}"
            ))
        }
        None => {
            let first = rest.split('/').next().unwrap_or_default();
            if first.ends_with(".amazonaws.com") {
                let path = &rest[first.len()..];
                (Some(format!("https://{first}")), path)
            } else {
                (None, rest)
            }
        }
    };
    let (bucket, prefix) = parse_bucket(path, "bucket", FORM)?;
    Ok(Location::S3 {
        endpoint,
        bucket,
        prefix,
    })
}

/// `sftp://[user@]host[:port]/absolute/path` or `sftp:[user@]host:[port]/absolute/path`.
fn parse_sftp(rest: &str) -> Result<Location, String> {
    const FORM: &str = "sftp:user@host:/srv/qcb or sftp://user@host:port/srv/qcb";
    let (authority, port_text, path) = if let Some(url) = rest.strip_prefix("//") {
        let slash = url.find('/').unwrap_or(url.len());
        let (authority, path) = url.split_at(slash);
        let (host_part, port) = split_port(authority)?;
        (host_part, port, path.to_string())
    } else {
        // scp-like: the path follows the first colon after the host.
        let host_end = match (rest.find('['), rest.find(']')) {
            (Some(open), Some(close)) if open < close => close + 1,
            _ => rest.rfind('@').map_or(0, |at| at + 1),
        };
        let Some(colon) = rest[host_end..].find(':').map(|c| host_end + c) else {
            return Err(format!("put a colon before the path: {FORM}"));
        };
        let (authority, after) = (&rest[..colon], &rest[colon + 1..]);
        // `host:2222/srv/qcb`: digits up to the first slash are a port (paths are absolute, so
        // this cannot be a folder name).
        let digits = after.find('/').map_or(after, |s| &after[..s]);
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            (authority, Some(digits), after[digits.len()..].to_string())
        } else {
            (authority, None, after.to_string())
        }
    };
    let (user, host) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(user), host),
        None => (None, authority),
    };
    if user.is_some_and(|u| u.contains(':')) {
        return Err(
            "passwords never go into the repository URL: qcb logs in with an SSH key (QCB_SFTP_KEY or your ssh configuration)"
                .to_string(),
        );
    }
    if user.is_some_and(str::is_empty) {
        return Err(format!("the user name is empty: {FORM}"));
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host.contains(['/', '@', ' ']) {
        return Err(format!("name the host: {FORM}"));
    }
    let port = match port_text {
        None => None,
        Some(p) => Some(
            p.parse::<u16>()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("`{p}` is not a port number"))?,
        ),
    };
    if !path.is_empty() && !path.starts_with('/') {
        return Err(format!(
            "the path must be absolute ({FORM}): qcb does not resolve paths against the remote home folder"
        ));
    }
    // sftp://host//srv/qcb (restic's way of writing an absolute path) is the same folder.
    let path = format!("/{}", path.trim_start_matches('/'));
    if path.split('/').any(|p| p == "." || p == "..") {
        return Err("`.` and `..` are not allowed in the path".to_string());
    }
    if path.trim_matches('/').is_empty() {
        return Err(format!("name a folder, not the server's root: {FORM}"));
    }
    Ok(Location::Sftp {
        user: user.map(str::to_string),
        host: host.to_string(),
        port,
        path: path.trim_end_matches('/').to_string(),
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn split_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    let host_end = match authority.find(']') {
        Some(close) => close + 1,
        None => authority.rfind('@').map_or(0, |at| at + 1),
    };
    Ok(match authority[host_end..].rfind(':') {
        Some(colon) => {
            let colon = host_end + colon;
            (&authority[..colon], Some(&authority[colon + 1..]))
        }
        None => (authority, None),
    })
}

fn root_of(prefix: &str) -> String {
    format!("/{prefix}")
}

fn s3_operator(
    endpoint: Option<&str>,
    bucket: &str,
    prefix: &str,
    env: &StorageEnv,
    runtime: &tokio::runtime::Runtime,
) -> Result<(Operator, String), String> {
    let endpoint = endpoint.map(str::to_string).or_else(|| {
        env.first(&["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
            .map(|e| e.trim_end_matches('/').to_string())
    });
    let mut builder = services::S3::default()
        .bucket(bucket)
        .root(&root_of(prefix));
    let region = match (env.first(&["AWS_REGION", "AWS_DEFAULT_REGION"]), &endpoint) {
        (Some(region), _) => region.to_string(),
        // S3-compatible stores mostly ignore the region, and sign with us-east-1 (restic too).
        (None, Some(endpoint)) if !endpoint.ends_with(".amazonaws.com") => "us-east-1".into(),
        (None, endpoint) => {
            let probe = endpoint
                .clone()
                .unwrap_or_else(|| "https://s3.amazonaws.com".into());
            let bucket = bucket.to_string();
            // Asks AWS where the bucket lives (restic does the same).
            crate::storage::wait_for(runtime, async move {
                services::S3::detect_region(&probe, &bucket).await
            })
            .flatten()
            .ok_or_else(|| {
                "the bucket's region is unknown: set AWS_DEFAULT_REGION (or AWS_REGION)".to_string()
            })?
        }
    };
    builder = builder.region(&region);
    let shown = match &endpoint {
        Some(endpoint) => {
            builder = builder.endpoint(endpoint);
            endpoint.clone()
        }
        None => {
            // Virtual-hosted requests, as AWS prefers; a dotted bucket name would not match
            // the TLS certificate of `*.s3.amazonaws.com`, so it keeps path style.
            if !bucket.contains('.') {
                builder = builder.enable_virtual_host_style();
            }
            format!("https://s3.{region}.amazonaws.com")
        }
    };
    match (
        env.get("AWS_ACCESS_KEY_ID"),
        env.get("AWS_SECRET_ACCESS_KEY"),
    ) {
        (Some(id), Some(secret)) => {
            builder = builder
                .access_key_id(id)
                .secret_access_key(secret)
                // Exactly these credentials: no profile file, no instance metadata.
                .disable_config_load()
                .disable_ec2_metadata();
            if let Some(token) = env.get("AWS_SESSION_TOKEN") {
                builder = builder.session_token(token);
            }
        }
        (Some(_), None) => {
            return Err("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not".into())
        }
        (None, Some(_)) => {
            return Err("AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not".into())
        }
        // AWS's own chain: AWS_PROFILE and ~/.aws, web identity, ECS or EC2 instance roles.
        (None, None) => {}
    }
    let op = Operator::new(builder).map_err(|e| e.message().to_string())?;
    Ok((op, shown))
}

/// `(endpoint, account)` from an Azure connection string, for error messages.
fn azure_connection_endpoint(connection: &str) -> Option<String> {
    let field = |name: &str| {
        connection.split(';').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    };
    if let Some(endpoint) = field("BlobEndpoint") {
        return Some(endpoint.trim_end_matches('/').to_string());
    }
    if field("UseDevelopmentStorage").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Some("http://127.0.0.1:10000/devstoreaccount1".into());
    }
    let account = field("AccountName")?;
    let protocol = field("DefaultEndpointsProtocol").unwrap_or_else(|| "https".into());
    let suffix = field("EndpointSuffix").unwrap_or_else(|| "core.windows.net".into());
    Some(format!("{protocol}://{account}.blob.{suffix}"))
}

fn azure_operator(
    container: &str,
    prefix: &str,
    env: &StorageEnv,
) -> Result<(Operator, String), String> {
    let (builder, shown) = if let Some(connection) = env.get("AZURE_STORAGE_CONNECTION_STRING") {
        let builder = services::Azblob::from_connection_string(connection).map_err(|_| {
            "AZURE_STORAGE_CONNECTION_STRING is not a valid connection string".to_string()
        })?;
        let shown = azure_connection_endpoint(connection)
            .ok_or("AZURE_STORAGE_CONNECTION_STRING names no account or BlobEndpoint")?;
        (builder, shown)
    } else {
        let account = env.get("AZURE_STORAGE_ACCOUNT").ok_or(
            "set AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN), or AZURE_STORAGE_CONNECTION_STRING",
        )?;
        if !account
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return Err(
                "AZURE_STORAGE_ACCOUNT must be a storage account name (lowercase letters and digits)"
                    .into(),
            );
        }
        let endpoint = format!("https://{account}.blob.core.windows.net");
        let mut builder = services::Azblob::default()
            .endpoint(&endpoint)
            .account_name(account);
        if let Some(key) = env.get("AZURE_STORAGE_KEY") {
            builder = builder.account_key(key);
        }
        if let Some(sas) = env.get("AZURE_STORAGE_SAS_TOKEN") {
            builder = builder.sas_token(sas.trim_start_matches('?'));
        }
        (builder, endpoint)
    };
    let builder = builder.container(container).root(&root_of(prefix));
    let op = Operator::new(builder).map_err(|e| {
        if e.message().contains("account_key") {
            "the account key (AZURE_STORAGE_KEY or AccountKey in AZURE_STORAGE_CONNECTION_STRING) is not valid base64".to_string()
        } else {
            e.message().to_string()
        }
    })?;
    Ok((op, shown))
}

fn gcs_operator(
    bucket: &str,
    prefix: &str,
    env: &StorageEnv,
) -> Result<(Operator, String), String> {
    let mut builder = services::Gcs::default()
        .bucket(bucket)
        .root(&root_of(prefix));
    let shown = if let Some(host) = env.get("STORAGE_EMULATOR_HOST") {
        // As Google's client libraries do: an emulator takes plain HTTP and no credentials.
        let endpoint = if host.contains("://") {
            host.trim_end_matches('/').to_string()
        } else {
            format!("http://{}", host.trim_end_matches('/'))
        };
        builder = builder
            .endpoint(&endpoint)
            .skip_signature()
            .disable_vm_metadata()
            .disable_config_load();
        endpoint
    } else {
        if let Some(path) = env.get("GOOGLE_APPLICATION_CREDENTIALS") {
            if !std::path::Path::new(path).is_file() {
                return Err(format!(
                    "GOOGLE_APPLICATION_CREDENTIALS names {path}, which is not a file"
                ));
            }
            builder = builder.credential_path(path);
        }
        "https://storage.googleapis.com".to_string()
    };
    let op = Operator::new(builder).map_err(|e| e.message().to_string())?;
    Ok((op, shown))
}

fn sftp_operator(
    user: Option<&str>,
    host: &str,
    port: Option<u16>,
    path: &str,
    env: &StorageEnv,
) -> Result<(Operator, String), String> {
    // The system `ssh` makes the connection, so ~/.ssh/config (aliases, ports, users, keys,
    // known_hosts) applies. The host key is always checked against known_hosts.
    let endpoint = match port {
        Some(port) => format!("ssh://{host}:{port}"),
        None => host.to_string(),
    };
    let mut builder = services::Sftp::default()
        .endpoint(&endpoint)
        .root(path)
        .known_hosts_strategy("strict");
    if let Some(user) = user {
        builder = builder.user(user);
    }
    if let Some(key) = env.get("QCB_SFTP_KEY") {
        if !std::path::Path::new(key).is_file() {
            return Err(format!("QCB_SFTP_KEY names {key}, which is not a file"));
        }
        builder = builder.key(key);
    }
    let op = Operator::new(builder).map_err(|e| e.message().to_string())?;
    let shown = match port {
        Some(port) if host.contains(':') => format!("[{host}]:{port}"),
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    };
    Ok((op, shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Location {
        Location::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn refused(s: &str) -> String {
        match Location::parse(s) {
            Err(e @ RepoError::InvalidLocation { .. }) => e.to_string(),
            other => panic!("{s}: {other:?}"),
        }
    }

    #[test]
    fn local_paths() {
        assert_eq!(parse("/srv/backup"), Location::Local("/srv/backup".into()));
        assert_eq!(
            parse("local:/srv/backup"),
            Location::Local("/srv/backup".into())
        );
        assert_eq!(parse("backups"), Location::Local("backups".into()));
        assert!(matches!(Location::parse("  "), Err(RepoError::NoLocation)));
    }

    #[test]
    fn s3_forms() {
        assert_eq!(
            parse("s3:https://minio.example.com:9000/backups/qcb/acme"),
            Location::S3 {
                endpoint: Some("https://minio.example.com:9000".into()),
                bucket: "backups".into(),
                prefix: "qcb/acme".into()
            }
        );
        assert_eq!(
            parse("s3:http://127.0.0.1:8333/qcb"),
            Location::S3 {
                endpoint: Some("http://127.0.0.1:8333".into()),
                bucket: "qcb".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            parse("s3:s3.eu-west-1.amazonaws.com/backups/qcb"),
            Location::S3 {
                endpoint: Some("https://s3.eu-west-1.amazonaws.com".into()),
                bucket: "backups".into(),
                prefix: "qcb".into()
            }
        );
        let aws = parse("s3:backups//qcb/");
        assert_eq!(
            aws,
            Location::S3 {
                endpoint: None,
                bucket: "backups".into(),
                prefix: "qcb".into()
            }
        );
        assert_eq!(aws.to_string(), "s3:backups/qcb");
        assert_eq!(aws.backend(), Backend::S3);
        assert!(refused("s3:").contains("name the bucket"));
        assert!(refused("s3:https://host:9000").contains("name the bucket"));
        assert!(refused("s3:ftp://host/b").contains("http:// and https://"));
    }

    #[test]
    fn credentials_in_a_url_are_refused_and_never_repeated() {
        for url in [
            "s3:https://AKIAEXAMPLE:sup3rs3cret@host/bucket",
            "s3:AKIAEXAMPLE:sup3rs3cret@bucket/prefix",
            "azblob:acct:sup3rs3cret@container",
            "sftp://alice:sup3rs3cret@host/srv/qcb",
            "sftp:alice:sup3rs3cret@host:/srv/qcb",
            "gcs:bucket/prefix?token=sup3rs3cret",
        ] {
            let err = refused(url);
            assert!(!err.contains("sup3rs3cret"), "{err}");
        }
        assert!(refused("sftp://alice:pw@host/srv").contains("alice:***@host"));
    }

    #[test]
    fn azure_and_gcs_forms() {
        assert_eq!(
            parse("azblob:backups/qcb"),
            Location::Azure {
                container: "backups".into(),
                prefix: "qcb".into()
            }
        );
        assert_eq!(
            parse("gcs:backups"),
            Location::Gcs {
                bucket: "backups".into(),
                prefix: String::new()
            }
        );
        assert!(refused("azblob:https://acct.blob.core.windows.net/c")
            .contains("azblob:container/prefix"));
        assert!(refused("azure:container:/path").contains("azblob:"));
        assert!(refused("gs:bucket:/path").contains("gcs:"));
        assert!(refused("gcs:b/../x").contains("`..`"));
    }

    #[test]
    fn sftp_forms() {
        let want = |user: Option<&str>, host: &str, port: Option<u16>, path: &str| Location::Sftp {
            user: user.map(Into::into),
            host: host.into(),
            port,
            path: path.into(),
        };
        assert_eq!(
            parse("sftp:alice@backup.example.com:/srv/qcb"),
            want(Some("alice"), "backup.example.com", None, "/srv/qcb")
        );
        assert_eq!(
            parse("sftp:alice@host:2222/srv/qcb/"),
            want(Some("alice"), "host", Some(2222), "/srv/qcb")
        );
        assert_eq!(
            parse("sftp:nas:/volume1/qcb"),
            want(None, "nas", None, "/volume1/qcb")
        );
        assert_eq!(
            parse("sftp://alice@host:2222/srv/qcb"),
            want(Some("alice"), "host", Some(2222), "/srv/qcb")
        );
        assert_eq!(
            parse("sftp://host//srv/qcb"),
            want(None, "host", None, "/srv/qcb")
        );
        assert_eq!(
            parse("sftp://[::1]:22/srv/qcb"),
            want(None, "::1", Some(22), "/srv/qcb")
        );
        assert_eq!(
            parse("sftp:alice@host:2222/srv/qcb").to_string(),
            "sftp://alice@host:2222/srv/qcb"
        );
        assert!(refused("sftp:host:relative/path").contains("absolute"));
        assert!(refused("sftp:host").contains("colon"));
        assert!(refused("sftp:host:/").contains("not the server's root"));
        assert!(refused("sftp://host:99999/srv").contains("port"));
    }

    fn build(location: &str, env: &[(&str, &str)]) -> Result<String, String> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let env: StorageEnv = env.iter().copied().collect();
        parse(location)
            .remote_operator(&env, &rt)
            .map(|(_, shown)| shown)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn operators_take_endpoints_regions_and_credentials_from_the_environment() {
        let keys = [
            ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("AWS_SECRET_ACCESS_KEY", "sup3rs3cret"),
        ];
        assert_eq!(
            build("s3:http://127.0.0.1:9000/b/p", &keys).unwrap(),
            "http://127.0.0.1:9000"
        );
        let mut aws = keys.to_vec();
        aws.push(("AWS_DEFAULT_REGION", "eu-west-1"));
        assert_eq!(
            build("s3:backups/qcb", &aws).unwrap(),
            "https://s3.eu-west-1.amazonaws.com"
        );
        aws.push(("AWS_ENDPOINT_URL", "https://objects.example.com/"));
        assert_eq!(
            build("s3:backups/qcb", &aws).unwrap(),
            "https://objects.example.com"
        );
        let half = build("s3:http://h:1/b", &keys[..1]).unwrap_err();
        assert!(
            half.contains("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not"),
            "{half}"
        );

        let azure = [
            ("AZURE_STORAGE_ACCOUNT", "acme"),
            ("AZURE_STORAGE_KEY", "a2V5"),
        ];
        assert_eq!(
            build("azblob:backups", &azure).unwrap(),
            "https://acme.blob.core.windows.net"
        );
        let none = build("azblob:backups", &[]).unwrap_err();
        assert!(none.contains("set AZURE_STORAGE_ACCOUNT"), "{none}");
        let bad = build(
            "azblob:backups",
            &[
                ("AZURE_STORAGE_ACCOUNT", "acme"),
                ("AZURE_STORAGE_KEY", "sup3r$3cret!"),
            ],
        )
        .unwrap_err();
        assert!(
            bad.contains("not valid base64") && !bad.contains("sup3r"),
            "{bad}"
        );

        assert_eq!(
            build("gcs:b", &[("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")]).unwrap(),
            "http://127.0.0.1:4443"
        );
        let missing = build(
            "gcs:b",
            &[("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/key.json")],
        )
        .unwrap_err();
        assert!(missing.contains("which is not a file"), "{missing}");

        assert_eq!(
            build("sftp:alice@nas:2222/srv/qcb", &[]).unwrap(),
            "nas:2222"
        );
        let key = build("sftp:nas:/srv", &[("QCB_SFTP_KEY", "/nonexistent/id")]).unwrap_err();
        assert!(key.contains("QCB_SFTP_KEY names /nonexistent/id"), "{key}");
    }

    #[test]
    fn masking() {
        assert_eq!(
            mask_credentials("s3:https://id:secret@host/b"),
            "s3:https://***@host/b"
        );
        assert_eq!(mask_credentials("gcs:b/p?sig=x"), "gcs:b/p?***");
        assert_eq!(mask_credentials("sftp:bob@host:/x"), "sftp:bob@host:/x");
    }

    #[test]
    fn azure_endpoints_from_connection_strings() {
        assert_eq!(
            azure_connection_endpoint(
                "DefaultEndpointsProtocol=http;AccountName=a;AccountKey=k;BlobEndpoint=http://127.0.0.1:1/a/;"
            )
            .as_deref(),
            Some("http://127.0.0.1:1/a")
        );
        assert_eq!(
            azure_connection_endpoint("AccountName=acme;AccountKey=k").as_deref(),
            Some("https://acme.blob.core.windows.net")
        );
    }
}
