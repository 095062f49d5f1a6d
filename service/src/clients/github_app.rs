//! GitHub App authentication: the service acts on a repository with a short-lived token of the
//! App installation that covers it, instead of a stored personal token.
//!
//! 1. [`mint_app_jwt`]: a JWT signed RS256 with the App's private key (`github-app key set`),
//!    `iss` = `GITHUB_APP_ID`, `iat` = now − 60 s (clock drift), `exp` = now + 9 min (GitHub
//!    refuses more than 10).
//! 2. `GET /repos/{owner}/{repo}/installation` (as the App) finds the installation that covers
//!    the repository; remembered for [`INSTALLATION_TTL`]. A 404 means the App is not
//!    installed there and the caller falls back to a stored token.
//! 3. `POST /app/installations/{id}/access_tokens` mints the installation token; it is reused
//!    until [`REFRESH_MARGIN`] before its `expires_at`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use url::Url;

use super::{http_client, join_segments, send};
use crate::outcome::HandleError;
use crate::secret::Secret;

/// How far back `iat` is set, so a GitHub clock slightly behind ours accepts the JWT.
pub const JWT_BACKDATE: Duration = Duration::from_secs(60);
/// How long a JWT is valid after now (GitHub's maximum is 10 minutes).
pub const JWT_LIFETIME: Duration = Duration::from_secs(9 * 60);
/// An installation token is replaced this long before it expires.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// How long the repository → installation mapping is remembered.
pub const INSTALLATION_TTL: Duration = Duration::from_secs(10 * 60);

/// Why a JWT could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppAuthError {
    /// The key is not an RSA private key in PEM form (PKCS#1 or PKCS#8).
    #[error(
        "the GitHub App private key is not an RSA private key in PEM form (the .pem file GitHub lets you download)"
    )]
    BadKey,
    /// The App id is not a number.
    #[error("GITHUB_APP_ID must be the App's numeric id")]
    BadAppId,
}

/// The claims GitHub reads from an App JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppClaims {
    /// The App id.
    pub iss: String,
    /// Issued at (seconds since the epoch), backdated by [`JWT_BACKDATE`].
    pub iat: i64,
    /// Expiry (seconds since the epoch), [`JWT_LIFETIME`] after now.
    pub exp: i64,
}

/// Checks that `pem` is a usable App private key (`github-app key set` refuses anything else).
/// The key is only parsed when it signs, so this signs a throwaway JWT.
pub fn check_private_key(pem: &str) -> Result<(), AppAuthError> {
    mint_app_jwt("0", pem, OffsetDateTime::now_utc()).map(|_| ())
}

/// Signs the App JWT for `now` (see the module docs).
pub fn mint_app_jwt(
    app_id: &str,
    private_key_pem: &str,
    now: OffsetDateTime,
) -> Result<String, AppAuthError> {
    if app_id.is_empty() || !app_id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AppAuthError::BadAppId);
    }
    let key =
        EncodingKey::from_rsa_pem(private_key_pem.as_bytes()).map_err(|_| AppAuthError::BadKey)?;
    let now = now.unix_timestamp();
    let claims = AppClaims {
        iss: app_id.to_string(),
        iat: now - JWT_BACKDATE.as_secs() as i64,
        exp: now + JWT_LIFETIME.as_secs() as i64,
    };
    // A PEM block that is not an RSA private key (a public key, an EC key) is only found out
    // when signing.
    jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &key)
        .map_err(|_| AppAuthError::BadKey)
}

#[derive(Deserialize)]
struct Installation {
    id: i64,
}

#[derive(Deserialize)]
struct AccessToken {
    token: String,
    expires_at: String,
}

struct CachedToken {
    token: Secret<String>,
    expires_at: OffsetDateTime,
}

/// Mints and caches installation tokens for one App at `GITHUB_API_URL`.
pub struct GitHubApp {
    base: Url,
    http: reqwest::Client,
    app_id: String,
    installations: Mutex<HashMap<String, (Instant, Option<i64>)>>,
    tokens: Mutex<HashMap<i64, CachedToken>>,
    /// One mint at a time, so concurrent events of one installation share a token.
    minting: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for GitHubApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubApp")
            .field("app_id", &self.app_id)
            .finish_non_exhaustive()
    }
}

fn jwt_error(e: AppAuthError) -> HandleError {
    HandleError::permanent(format!(
        "{e}: store it again with `codereview-sync github-app key set`"
    ))
}

impl GitHubApp {
    /// The App `app_id` at the REST API `base`.
    pub fn new(base: &Url, app_id: i64) -> Self {
        Self {
            base: base.clone(),
            http: http_client(),
            app_id: app_id.to_string(),
            installations: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            minting: tokio::sync::Mutex::new(()),
        }
    }

    /// `GITHUB_APP_ID`, the owner its private key is stored under.
    pub fn app_id(&self) -> &str {
        &self.app_id
    }

    fn as_app(
        &self,
        method: reqwest::Method,
        url: Url,
        key: &Secret<String>,
    ) -> Result<reqwest::RequestBuilder, HandleError> {
        let jwt = mint_app_jwt(&self.app_id, key.expose(), OffsetDateTime::now_utc())
            .map_err(jwt_error)?;
        Ok(self
            .http
            .request(method, url)
            .bearer_auth(jwt)
            .header("accept", "application/vnd.github+json")
            .header("x-github-api-version", "2022-11-28"))
    }

    /// The installation token for `repo` (`owner/name`), or `None` when the App is not
    /// installed on it.
    pub async fn token_for_repo(
        &self,
        key: &Secret<String>,
        repo: &str,
    ) -> Result<Option<Secret<String>>, HandleError> {
        let Some(installation) = self.installation_for(key, repo).await? else {
            return Ok(None);
        };
        self.installation_token(key, installation).await.map(Some)
    }

    async fn installation_for(
        &self,
        key: &Secret<String>,
        repo: &str,
    ) -> Result<Option<i64>, HandleError> {
        if let Some((at, id)) = self
            .installations
            .lock()
            .ok()
            .and_then(|m| m.get(repo).copied())
            && at.elapsed() < INSTALLATION_TTL
        {
            return Ok(id);
        }
        let mut segments = vec!["repos"];
        segments.extend(repo.split('/'));
        segments.push("installation");
        let url = join_segments(&self.base, segments);
        let api = "github get repository installation";
        let id = match send(api, self.as_app(reqwest::Method::GET, url, key)?, true).await? {
            Some(answer) => Some(answer.json::<Installation>(api)?.id),
            None => None,
        };
        if let Ok(mut map) = self.installations.lock() {
            if map.len() > 10_000 {
                map.clear();
            }
            map.insert(repo.to_string(), (Instant::now(), id));
        }
        Ok(id)
    }

    fn cached_token(&self, installation: i64) -> Option<Secret<String>> {
        let map = self.tokens.lock().ok()?;
        let cached = map.get(&installation)?;
        (OffsetDateTime::now_utc() + REFRESH_MARGIN < cached.expires_at)
            .then(|| cached.token.clone())
    }

    /// A token of installation `installation`, minted when none is cached or it expires
    /// within [`REFRESH_MARGIN`].
    pub async fn installation_token(
        &self,
        key: &Secret<String>,
        installation: i64,
    ) -> Result<Secret<String>, HandleError> {
        if let Some(token) = self.cached_token(installation) {
            return Ok(token);
        }
        let _one_mint = self.minting.lock().await;
        if let Some(token) = self.cached_token(installation) {
            return Ok(token);
        }
        let id = installation.to_string();
        let url = join_segments(&self.base, ["app", "installations", &id, "access_tokens"]);
        let api = "github create installation token";
        let answer = send(api, self.as_app(reqwest::Method::POST, url, key)?, false)
            .await?
            .expect("404 is not accepted here");
        let minted: AccessToken = answer.json(api)?;
        let expires_at = OffsetDateTime::parse(
            &minted.expires_at,
            &time::format_description::well_known::Rfc3339,
        )
        .map_err(|_| HandleError::permanent(format!("{api} answered an unreadable expires_at")))?;
        let token = Secret::new(minted.token);
        tracing::info!(installation, %expires_at, "GitHub App installation token minted");
        if let Ok(mut map) = self.tokens.lock() {
            map.insert(
                installation,
                CachedToken {
                    token: token.clone(),
                    expires_at,
                },
            );
        }
        Ok(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation};

    const KEY: &str = include_str!("../../tests/api/keys/github-app-test.pem");
    const PUBLIC: &str = include_str!("../../tests/api/keys/github-app-test.pub.pem");
    const OTHER: &str = include_str!("../../tests/api/keys/other-test.pem");

    fn decode(jwt: &str, public: &str) -> Result<AppClaims, jsonwebtoken::errors::Error> {
        let mut v = Validation::new(Algorithm::RS256);
        v.validate_exp = false;
        v.required_spec_claims.clear();
        jsonwebtoken::decode::<AppClaims>(
            jwt,
            &DecodingKey::from_rsa_pem(public.as_bytes()).unwrap(),
            &v,
        )
        .map(|d| d.claims)
    }

    #[test]
    fn jwt_claims_and_signature() {
        let now = OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let jwt = mint_app_jwt("12345", KEY, now).unwrap();
        let claims = decode(&jwt, PUBLIC).unwrap();
        assert_eq!(
            claims,
            AppClaims {
                iss: "12345".into(),
                iat: 1_700_000_000 - 60,
                exp: 1_700_000_000 + 540,
            }
        );
        let header = jsonwebtoken::decode_header(&jwt).unwrap();
        assert_eq!(header.alg, Algorithm::RS256);
        // Signed by another key: the public half of ours refuses it.
        let forged = mint_app_jwt("12345", OTHER, now).unwrap();
        assert!(decode(&forged, PUBLIC).is_err());
    }

    #[test]
    fn bad_inputs_are_named() {
        let now = OffsetDateTime::now_utc();
        assert_eq!(
            mint_app_jwt("12345", "not a key", now),
            Err(AppAuthError::BadKey)
        );
        assert_eq!(mint_app_jwt("app", KEY, now), Err(AppAuthError::BadAppId));
        assert_eq!(check_private_key(PUBLIC), Err(AppAuthError::BadKey));
        assert_eq!(check_private_key(KEY), Ok(()));
    }
}
