//! The flags that say which tenant and how to sign in (DESIGN.md §6): `--tenant`, and an API
//! key or an OAuth M2M client. Secrets are held in `SecretString` and never echoed (clap's
//! `hide_env_values` keeps them out of `--help`).

use anyhow::Context;
use clap::Args;
use qcb_qlik::{Budget, ClientOptions, Credentials, TenantClient, TenantUrl};
use secrecy::SecretString;

#[derive(Args, Debug, Clone, Default)]
pub struct TenantArgs {
    /// The tenant, e.g. https://acme.eu.qlikcloud.com.
    #[arg(long, env = "QCB_TENANT", value_name = "URL")]
    pub tenant: Option<String>,
    /// An API key of a tenant admin.
    #[arg(long, env = "QCB_API_KEY", hide_env_values = true, value_name = "KEY")]
    pub api_key: Option<String>,
    /// An OAuth machine-to-machine client (best with the admin.apps scope: it reaches every app).
    #[arg(long, env = "QCB_CLIENT_ID", value_name = "ID")]
    pub client_id: Option<String>,
    #[arg(
        long,
        env = "QCB_CLIENT_SECRET",
        hide_env_values = true,
        value_name = "SECRET"
    )]
    pub client_secret: Option<String>,
    /// Share of Qlik's rate limits the run may use, 0 < F <= 1 (leave headroom for the tenant's own automations).
    #[arg(long, default_value_t = 1.0, value_name = "F")]
    pub budget: f64,
}

/// A configuration mistake of the user's (exit code 2), not a failure of the run.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

macro_rules! usage {
    ($($t:tt)*) => { return Err(UsageError(format!($($t)*)).into()) };
}

impl TenantArgs {
    pub fn client(&self) -> anyhow::Result<TenantClient> {
        let Some(url) = self.tenant.as_deref().filter(|s| !s.trim().is_empty()) else {
            usage!("no tenant given: use --tenant https://<tenant>.<region>.qlikcloud.com or set QCB_TENANT");
        };
        if !(self.budget > 0.0 && self.budget <= 1.0) {
            usage!(
                "--budget must be more than 0 and at most 1, got {}",
                self.budget
            );
        }
        let tenant = TenantUrl::parse(url).map_err(|e| UsageError(e.to_string()))?;
        let creds = match (&self.api_key, &self.client_id, &self.client_secret) {
            (_, Some(id), Some(secret)) => Credentials::OAuthClient { client_id: id.clone(), client_secret: SecretString::from(secret.clone()), scope: None },
            (_, Some(_), None) => usage!("--client-id needs --client-secret (or QCB_CLIENT_SECRET)"),
            (Some(key), None, _) => Credentials::ApiKey(SecretString::from(key.clone())),
            (None, None, _) => usage!("no credentials: give --api-key (QCB_API_KEY) or --client-id and --client-secret (QCB_CLIENT_ID, QCB_CLIENT_SECRET)"),
        };
        let opts = ClientOptions {
            budget: Budget {
                fraction: self.budget,
                ..Budget::default()
            },
            ..ClientOptions::default()
        };
        TenantClient::new(tenant, creds, opts).context("setting up the Qlik Cloud client")
    }
}
