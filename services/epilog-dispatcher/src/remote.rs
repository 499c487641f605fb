//! The remote settings of a definition, read from intervention-service's internal API at
//! send time: the bearer token is never stored here, and a token fixed by staff is used
//! by the next attempt.

use std::time::Duration;

use loopdesk_contracts::{Scope, interventions::RemoteSettings};
use loopdesk_web::internal::{ENV_HEADER, TENANT_HEADER};

/// Why the settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    /// The definition does not exist (any more).
    #[error("the intervention `{0}` does not exist")]
    NotFound(String),
    /// intervention-service could not answer; try again later.
    #[error("the intervention settings are unavailable: {0}")]
    Unavailable(String),
}

/// Reads remote settings from intervention-service.
#[derive(Clone)]
pub struct RemoteLookup {
    http: reqwest::Client,
    base: String,
}

impl RemoteLookup {
    /// A lookup against `base` (e.g. `http://127.0.0.1:8082`), giving up after `timeout`.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(2))
            .build()?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
        })
    }

    /// The definition `name`'s remote settings, token included.
    pub async fn get(&self, scope: &Scope, name: &str) -> Result<RemoteSettings, LookupError> {
        let mut url = reqwest::Url::parse(&self.base)
            .map_err(|e| LookupError::Unavailable(format!("bad base URL: {e}")))?;
        url.path_segments_mut()
            .map_err(|()| LookupError::Unavailable("bad base URL".to_owned()))?
            .extend(["internal", "v1", "interventions", name, "remote"]);
        let response = self
            .http
            .get(url)
            .header(TENANT_HEADER, scope.tenant.as_str())
            .header(ENV_HEADER, scope.env.as_str())
            .send()
            .await
            .map_err(|e| LookupError::Unavailable(e.without_url().to_string()))?;
        match response.status().as_u16() {
            200 => response
                .json::<RemoteSettings>()
                .await
                .map_err(|e| LookupError::Unavailable(e.without_url().to_string())),
            404 => Err(LookupError::NotFound(name.to_owned())),
            other => Err(LookupError::Unavailable(format!(
                "intervention-service answered {other}"
            ))),
        }
    }
}
