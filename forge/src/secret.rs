//! A wrapper for values that must never reach a log line. Lives here, in the library both
//! binaries use, so the CI action's forge settings and the sync service share one type.

use std::fmt;

/// A secret value (token, signing secret, key material).
///
/// Why a type: `tracing` fields, `{:?}` in an error and a derived `Debug` on a settings struct
/// are the usual ways secrets leak into logs. `Secret` prints `[redacted]` in both `Debug` and
/// `Display`, and the only way to read the value is the explicit, greppable [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret<T>(T);

impl<T> Secret<T> {
    /// Wraps a value.
    pub fn new(value: T) -> Self {
        Self(value)
    }

    /// Reads the value. Call this only where the secret is used (a MAC key, an API header).
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl<T> fmt::Display for Secret<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret<String> {
    fn from(value: String) -> Self {
        Self(value)
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = Secret::new("xoxb-very-secret".to_string());
        assert_eq!(format!("{s:?}"), "[redacted]");
        assert_eq!(format!("{s}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&s)), "Some([redacted])");
        assert_eq!(s.expose(), "xoxb-very-secret");
    }

    /// Every settings struct that holds a token derives `Debug`: a future `{:?}` in a log or an
    /// error must not print it.
    #[test]
    fn forge_settings_never_print_their_token() {
        use crate::github::GithubSettings;
        use crate::gitlab::GitlabSettings;
        let github = GithubSettings {
            api_url: "https://api.github.com".into(),
            graphql_url: "https://api.github.com/graphql".into(),
            repository: "acme/web".into(),
            number: 7,
            token: Secret::new("ghs_github-token-0001".into()),
        };
        let gitlab = GitlabSettings::new(
            "https://gitlab.example.com/api/v4".into(),
            "group/app".into(),
            3,
            Secret::new("glpat-gitlab-token-0002".into()),
        );
        for printed in [
            format!("{github:?}"),
            format!("{github:#?}"),
            format!("{gitlab:?}"),
            format!("{gitlab:#?}"),
        ] {
            assert!(!printed.contains("token-000"), "{printed}");
            assert!(printed.contains("[redacted]"), "{printed}");
        }
        assert_eq!(github.token.expose(), "ghs_github-token-0001");
    }
}
