//! The environment the storage backends read: credentials, endpoints and regions, by their
//! standard names (never from the repository URL). Every value is held as a secret, so neither
//! `Debug` nor an error message can show one.

use std::collections::BTreeMap;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};

/// The variables a backend may read. Names only: the values stay secret.
pub const STORAGE_ENV_NAMES: &[&str] = &[
    // S3 and S3-compatible stores.
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    // Azure Blob.
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_KEY",
    "AZURE_STORAGE_SAS_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    // Google Cloud Storage.
    "GOOGLE_APPLICATION_CREDENTIALS",
    "STORAGE_EMULATOR_HOST",
    // SFTP (everything else comes from the user's ssh configuration).
    "QCB_SFTP_KEY",
];

/// A snapshot of the storage variables ([`STORAGE_ENV_NAMES`]). [`StorageEnv::from_process`]
/// takes them from the process; a test or an embedding program can build its own, so that two
/// repositories in one process can use different credentials.
#[derive(Clone, Default)]
pub struct StorageEnv {
    vars: BTreeMap<String, SecretString>,
}

impl StorageEnv {
    /// The storage variables of this process (empty ones count as unset).
    pub fn from_process() -> Self {
        STORAGE_ENV_NAMES
            .iter()
            .filter_map(|name| std::env::var(name).ok().map(|v| (*name, v)))
            .collect()
    }

    /// No variables at all.
    pub fn empty() -> Self {
        Self::default()
    }

    /// This environment with `name` set to `value` (an empty value unsets it).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        let value = value.into();
        if value.is_empty() {
            self.vars.remove(name);
        } else {
            self.vars
                .insert(name.to_string(), SecretString::from(value));
        }
        self
    }

    /// The value of `name`, if set and not blank.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.expose_secret().trim())
            .filter(|v| !v.is_empty())
    }

    /// The first of `names` that is set.
    pub(crate) fn first(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|n| self.get(n))
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for StorageEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Self::default(), |env, (k, v)| env.with(&k.into(), v))
    }
}

impl fmt::Debug for StorageEnv {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only, never values.
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_show_and_blanks_are_unset() {
        let env = StorageEnv::empty()
            .with("AWS_SECRET_ACCESS_KEY", "very-secret")
            .with("AWS_REGION", " ")
            .with("AWS_ACCESS_KEY_ID", "AKIA");
        let shown = format!("{env:?}");
        assert!(!shown.contains("very-secret"), "{shown}");
        assert!(shown.contains("AWS_SECRET_ACCESS_KEY"), "{shown}");
        assert_eq!(env.get("AWS_REGION"), None);
        assert_eq!(
            env.first(&["AWS_REGION", "AWS_ACCESS_KEY_ID"]),
            Some("AKIA")
        );
        assert_eq!(
            env.with("AWS_ACCESS_KEY_ID", "").get("AWS_ACCESS_KEY_ID"),
            None
        );
    }
}
