//! Where the repository password comes from (DESIGN.md §6): the `--password-file` flag, then
//! `QCB_PASSWORD_FILE`, then `QCB_PASSWORD`. The first one that is set and non-empty wins; a
//! password file that is named but unreadable or empty is an error rather than a silent
//! fall-through.

use std::path::{Path, PathBuf};

use secrecy::SecretString;

use crate::error::RepoError;

/// The environment variable holding a password file's path.
pub const PASSWORD_FILE_ENV: &str = "QCB_PASSWORD_FILE";
/// The environment variable holding the password itself.
pub const PASSWORD_ENV: &str = "QCB_PASSWORD";

/// Reads the password from `flag_file` (the `--password-file` flag), `QCB_PASSWORD_FILE` or
/// `QCB_PASSWORD`, in that order.
pub fn password_from_env(flag_file: Option<&Path>) -> Result<SecretString, RepoError> {
    resolve_password(flag_file, |name| std::env::var(name).ok())
}

/// [`password_from_env`] with the environment given as a function (for tests).
pub fn resolve_password(
    flag_file: Option<&Path>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<SecretString, RepoError> {
    let flag_file = flag_file.filter(|p| !p.as_os_str().is_empty());
    let env_file = env(PASSWORD_FILE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    if let Some(path) = flag_file.map(Path::to_path_buf).or(env_file) {
        return read_password_file(&path);
    }
    match env(PASSWORD_ENV) {
        Some(p) if !p.is_empty() => Ok(SecretString::from(p)),
        _ => Err(RepoError::NoPassword),
    }
}

/// Reads a password file. Surrounding whitespace (the final newline, in practice) is dropped,
/// as restic does, so the same file opens the repository with `restic -p FILE`.
pub fn read_password_file(path: &Path) -> Result<SecretString, RepoError> {
    let text = std::fs::read_to_string(path).map_err(|source| RepoError::PasswordFile {
        path: path.to_path_buf(),
        source,
    })?;
    let password = text.trim();
    if password.is_empty() {
        return Err(RepoError::EmptyPasswordFile {
            path: path.to_path_buf(),
        });
    }
    Ok(SecretString::from(password.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<String> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_string())
        }
    }

    #[test]
    fn the_flag_wins_then_the_file_variable_then_the_password_variable() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("flag");
        let envf = dir.path().join("envfile");
        std::fs::write(&flag, "from-flag\n").unwrap();
        std::fs::write(&envf, "  from-env-file \r\n").unwrap();
        let envf_s = envf.to_str().unwrap();
        let vars = [(PASSWORD_FILE_ENV, envf_s), (PASSWORD_ENV, "from-env")];
        let p = resolve_password(Some(&flag), env(&vars)).unwrap();
        assert_eq!(p.expose_secret(), "from-flag");
        let p = resolve_password(None, env(&vars)).unwrap();
        assert_eq!(p.expose_secret(), "from-env-file");
        let vars = [(PASSWORD_FILE_ENV, ""), (PASSWORD_ENV, "from-env")];
        let p = resolve_password(None, env(&vars)).unwrap();
        assert_eq!(p.expose_secret(), "from-env");
    }

    #[test]
    fn missing_unreadable_and_empty_sources_are_clear_errors() {
        let e = resolve_password(None, env(&[(PASSWORD_ENV, "")])).unwrap_err();
        assert!(matches!(e, RepoError::NoPassword));
        assert!(e.to_string().contains("--password-file"));
        let e = resolve_password(Some(Path::new("/nonexistent/pw")), env(&[])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read the password file /nonexistent/pw"
        );
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let e = resolve_password(Some(&empty), env(&[(PASSWORD_ENV, "x")])).unwrap_err();
        assert!(e.to_string().ends_with("is empty"), "{e}");
    }
}
