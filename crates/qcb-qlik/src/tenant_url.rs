//! A tenant URL: `https://` required, except for loopback addresses (the emulator).

use url::Url;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TenantUrlError {
    #[error("'{0}' is not a URL: give the tenant as https://<tenant>.<region>.qlikcloud.com")]
    NotAUrl(String),
    #[error("'{0}' uses http:// on a remote host: Qlik Cloud tenants are reached over https://")]
    InsecureRemote(String),
    #[error("'{0}' has a path: give only the tenant's address, e.g. https://<tenant>.<region>.qlikcloud.com")]
    HasPath(String),
    #[error("'{0}' has an unsupported scheme: use https://")]
    Scheme(String),
    #[error("'{url}' does not look like a Qlik Cloud address: {why}")]
    Hostname { url: String, why: String },
}

/// Region codes seen in Qlik Cloud hostnames (`<tenant>.<region>.qlikcloud.com`).
const KNOWN_REGIONS: &[&str] = &[
    "us", "eu", "uk", "de", "se", "sg", "ap", "jp", "in", "ae", "ca", "kr",
];

/// Levenshtein distance, for "did you mean" on a mistyped domain.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            cur.push(
                (prev[j] + usize::from(ca != *cb))
                    .min(prev[j + 1] + 1)
                    .min(cur[j] + 1),
            );
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Checks the shape of a `*.qlikcloud.com` hostname; custom domains are taken as they are.
fn check_qlik_hostname(raw: &str, host: &str) -> Result<(), TenantUrlError> {
    let err = |why: String| {
        Err(TenantUrlError::Hostname {
            url: raw.to_string(),
            why,
        })
    };
    let labels: Vec<&str> = host.split('.').collect();
    if labels.len() < 2 {
        return Ok(());
    }
    {
        let domain = labels[labels.len() - 2..].join(".");
        if domain != "qlikcloud.com" && distance(&domain, "qlikcloud.com") <= 2 {
            return err(format!("'{domain}' — did you mean qlikcloud.com?"));
        }
        if domain != "qlikcloud.com" {
            return Ok(());
        }
    }
    match labels.as_slice() {
        [_tenant, region, _, _] => {
            let known = KNOWN_REGIONS.join(", ");
            if region.len() != 2 || !region.chars().all(|c| c.is_ascii_lowercase()) {
                return err(format!("the region '{region}' is not a region code (Qlik Cloud uses two letters: {known})"));
            }
            Ok(())
        }
        [_tenant, _, _] => err("the region is missing: the address is https://<tenant>.<region>.qlikcloud.com, e.g. acme.eu.qlikcloud.com".into()),
        _ => err("expected https://<tenant>.<region>.qlikcloud.com".into()),
    }
}

/// The base URL of a tenant, without a trailing slash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantUrl(Url);

impl TenantUrl {
    pub fn parse(raw: &str) -> Result<TenantUrl, TenantUrlError> {
        let url = Url::parse(raw.trim()).map_err(|_| TenantUrlError::NotAUrl(raw.to_string()))?;
        let loopback = match url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(d)) => d == "localhost",
            None => return Err(TenantUrlError::NotAUrl(raw.to_string())),
        };
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(TenantUrlError::InsecureRemote(raw.to_string())),
            _ => return Err(TenantUrlError::Scheme(raw.to_string())),
        }
        if !(url.path() == "/" || url.path().is_empty()) || url.query().is_some() {
            return Err(TenantUrlError::HasPath(raw.to_string()));
        }
        if let Some(url::Host::Domain(d)) = url.host() {
            check_qlik_hostname(raw, &d.to_ascii_lowercase())?;
        }
        Ok(TenantUrl(url))
    }

    /// `path` (starting with `/`) on the tenant, with an optional query string.
    pub fn join(&self, path: &str, query: Option<&str>) -> Url {
        let mut u = self.0.clone();
        u.set_path(path);
        u.set_query(query.filter(|q| !q.is_empty()));
        u
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_https_and_loopback_http() {
        assert!(TenantUrl::parse("https://acme.eu.qlikcloud.com").is_ok());
        assert!(TenantUrl::parse("https://acme.eu.qlikcloud.com/").is_ok());
        assert!(TenantUrl::parse("http://127.0.0.1:8080").is_ok());
        assert!(TenantUrl::parse("http://localhost:8080").is_ok());
    }

    #[test]
    fn rejects_what_would_leak_or_misroute() {
        assert!(matches!(
            TenantUrl::parse("http://acme.eu.qlikcloud.com"),
            Err(TenantUrlError::InsecureRemote(_))
        ));
        assert!(matches!(
            TenantUrl::parse("https://acme.eu.qlikcloud.com/api/v1"),
            Err(TenantUrlError::HasPath(_))
        ));
        assert!(matches!(
            TenantUrl::parse("acme.eu.qlikcloud.com"),
            Err(TenantUrlError::NotAUrl(_))
        ));
        assert!(matches!(
            TenantUrl::parse("ftp://acme"),
            Err(TenantUrlError::Scheme(_))
        ));
    }
}
