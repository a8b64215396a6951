//! Credentials and the bearer token they give. An API key is its own token. An OAuth client
//! (client credentials, or user impersonation to act as a given owner) gets an access token
//! from `POST /oauth/token`, refreshed before it expires and once more when Qlik answers 401.
//! Secrets stay in `SecretString`: they reach a request header and nothing else.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use crate::error::{parse_error_body, ClientError};
use crate::tenant_url::TenantUrl;

/// Who to impersonate (`user_lookup` of the token request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserLookup {
    Subject(String),
    UserId(String),
}

/// How the client signs in. `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub enum Credentials {
    ApiKey(SecretString),
    /// OAuth machine-to-machine client (client credentials).
    OAuthClient {
        client_id: String,
        client_secret: SecretString,
        scope: Option<String>,
    },
    /// OAuth M2M client acting as another user (`urn:qlik:oauth:user-impersonation`).
    Impersonation {
        client_id: String,
        client_secret: SecretString,
        scope: Option<String>,
        user: UserLookup,
    },
}

impl Credentials {
    /// The same OAuth client, acting as `user`. API keys cannot impersonate.
    pub fn impersonating(&self, user: UserLookup) -> Option<Credentials> {
        match self {
            Credentials::OAuthClient {
                client_id,
                client_secret,
                scope,
            }
            | Credentials::Impersonation {
                client_id,
                client_secret,
                scope,
                ..
            } => Some(Credentials::Impersonation {
                client_id: client_id.clone(),
                client_secret: client_secret.clone(),
                scope: scope.clone(),
                user,
            }),
            Credentials::ApiKey(_) => None,
        }
    }
}

struct Token {
    access: SecretString,
    refresh_at: Instant,
}

/// Hands out the bearer token for each request.
pub(crate) struct Authenticator {
    creds: Credentials,
    tenant: TenantUrl,
    http: reqwest::Client,
    token: tokio::sync::Mutex<Option<Token>>,
    /// What the token endpoint said when it refused these credentials (a 4xx): they are not
    /// offered again, every request gets the same answer at once.
    refused: std::sync::Mutex<Option<String>>,
    pub(crate) refreshes: std::sync::atomic::AtomicU64,
}

impl Authenticator {
    pub(crate) fn credentials(&self) -> &Credentials {
        &self.creds
    }

    pub(crate) fn new(
        creds: Credentials,
        tenant: TenantUrl,
        http: reqwest::Client,
    ) -> Authenticator {
        Authenticator {
            creds,
            tenant,
            http,
            token: tokio::sync::Mutex::new(None),
            refused: std::sync::Mutex::new(None),
            refreshes: 0.into(),
        }
    }

    pub(crate) fn is_api_key(&self) -> bool {
        matches!(self.creds, Credentials::ApiKey(_))
    }

    /// The bearer token to send now; fetches or refreshes an OAuth token when due.
    pub(crate) async fn bearer(&self) -> Result<SecretString, ClientError> {
        if let Credentials::ApiKey(key) = &self.creds {
            return Ok(key.clone());
        }
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if Instant::now() < t.refresh_at {
                return Ok(t.access.clone());
            }
        }
        let refused = self
            .refused
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(detail) = refused {
            return Err(self.auth_error(detail));
        }
        let fresh = self.request_token().await?;
        let access = fresh.access.clone();
        *slot = Some(fresh);
        Ok(access)
    }

    /// Qlik answered 401 to a request made with `used`: drop that token so the next call gets
    /// a new one. Returns whether retrying can help (an API key cannot be refreshed).
    pub(crate) async fn rejected(&self, used: &SecretString) -> bool {
        if matches!(self.creds, Credentials::ApiKey(_)) {
            return false;
        }
        let mut slot = self.token.lock().await;
        if slot
            .as_ref()
            .is_some_and(|t| t.access.expose_secret() == used.expose_secret())
        {
            *slot = None;
        }
        true
    }

    async fn request_token(&self) -> Result<Token, ClientError> {
        let (client_id, secret, scope, lookup) = match &self.creds {
            Credentials::ApiKey(_) => {
                return Err(self.auth_error("an API key has no token to request".into()))
            }
            Credentials::OAuthClient {
                client_id,
                client_secret,
                scope,
            } => (client_id, client_secret, scope, None),
            Credentials::Impersonation {
                client_id,
                client_secret,
                scope,
                user,
            } => (client_id, client_secret, scope, Some(user)),
        };
        let mut body = json!({"client_id": client_id, "client_secret": secret.expose_secret()});
        match lookup {
            None => body["grant_type"] = json!("client_credentials"),
            Some(user) => {
                body["grant_type"] = json!("urn:qlik:oauth:user-impersonation");
                body["user_lookup"] = match user {
                    UserLookup::Subject(s) => json!({"field": "subject", "value": s}),
                    UserLookup::UserId(s) => json!({"field": "userId", "value": s}),
                };
            }
        }
        if let Some(scope) = scope {
            body["scope"] = json!(scope);
        }
        let url = self.tenant.join("/oauth/token", None);
        let mut last = String::new();
        // The token endpoint is retried on its own: transport errors and 5xx only.
        for attempt in 0..4u32 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
            }
            let resp = match self.http.post(url.clone()).json(&body).send().await {
                Ok(r) => r,
                Err(e) => {
                    last = crate::client::transport_detail(e);
                    continue;
                }
            };
            let status = resp.status().as_u16();
            let bytes = resp.bytes().await.unwrap_or_default();
            if status >= 500 {
                last = format!("the token endpoint answered {status}");
                continue;
            }
            if status != 200 {
                let (errors, _) = parse_error_body(&bytes);
                let why = errors
                    .first()
                    .map(|e| format!("{} {}", e.title, e.detail))
                    .unwrap_or_default();
                let detail = format!("the token endpoint answered {status}: {}; check the client ID and secret, and that the client may use this grant", why.trim());
                // A refusal (not a rate limit or a timeout) stands for these credentials.
                if (400..500).contains(&status) && !matches!(status, 408 | 429) {
                    *self.refused.lock().unwrap_or_else(|e| e.into_inner()) = Some(detail.clone());
                }
                return Err(self.auth_error(detail));
            }
            return self.token_from(&bytes);
        }
        Err(self.auth_error(format!("the token endpoint could not be reached: {last}")))
    }

    fn token_from(&self, bytes: &[u8]) -> Result<Token, ClientError> {
        let v: Value = serde_json::from_slice(bytes)
            .map_err(|e| self.auth_error(format!("the token answer is not JSON: {e}")))?;
        let access = v
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| self.auth_error("the token answer has no access_token".into()))?;
        // The lifetime: expires_in when given, else expires_at against our clock; the shorter wins.
        let from_in = v
            .get("expires_in")
            .and_then(Value::as_f64)
            .map(Duration::from_secs_f64);
        let from_at = v
            .get("expires_at")
            .and_then(Value::as_str)
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
            .and_then(|at| {
                (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                    .to_std()
                    .ok()
            });
        let lifetime = match (from_in, from_at) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) | (None, Some(a)) => a,
            (None, None) => Duration::from_secs(3600),
        };
        // Refresh well before expiry: a tenth of the lifetime ahead, at most five minutes.
        let margin = (lifetime / 10).min(Duration::from_secs(300));
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Token {
            access: SecretString::from(access.to_string()),
            refresh_at: Instant::now() + lifetime.saturating_sub(margin),
        })
    }

    fn auth_error(&self, detail: String) -> ClientError {
        ClientError::Auth {
            tenant: self.tenant.as_str().to_string(),
            detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_secrets() {
        let c = Credentials::OAuthClient {
            client_id: "id".into(),
            client_secret: SecretString::from("QCBSECRET-x".to_string()),
            scope: None,
        };
        assert!(!format!("{c:?}").contains("QCBSECRET"));
        let k = Credentials::ApiKey(SecretString::from("QCBSECRET-key".to_string()));
        assert!(!format!("{k:?}").contains("QCBSECRET"));
    }

    #[test]
    fn only_oauth_clients_impersonate() {
        let k = Credentials::ApiKey(SecretString::from("k".to_string()));
        assert!(k.impersonating(UserLookup::Subject("s".into())).is_none());
        let c = Credentials::OAuthClient {
            client_id: "id".into(),
            client_secret: SecretString::from("s".to_string()),
            scope: None,
        };
        assert!(matches!(
            c.impersonating(UserLookup::UserId("u".into())),
            Some(Credentials::Impersonation { .. })
        ));
    }
}
