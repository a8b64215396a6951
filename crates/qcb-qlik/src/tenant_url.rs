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
