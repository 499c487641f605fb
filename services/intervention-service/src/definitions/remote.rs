//! The remote's bearer token: checked on the way in, sealed at rest, and opened only for
//! the internal read the epilog dispatcher uses.

use loopdesk_contracts::{
    FieldError, Scope,
    interventions::{RemoteSettings, RemoteToken},
};
use loopdesk_storage::Conn;

use crate::{
    definitions::store::{self, StoreError},
    secrets::SecretBox,
};

const MAX_TOKEN: usize = 4096;

/// A bearer token must be sendable as an HTTP header value.
pub fn check_token(token: &str) -> Result<(), FieldError> {
    if token.is_empty() || token.len() > MAX_TOKEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(FieldError::new(
            "remote_bearer_token",
            format!("must be 1 to {MAX_TOKEN} visible ASCII characters without spaces"),
        ));
    }
    Ok(())
}

/// Why the remote settings could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// Reading failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored token does not decrypt (wrong key configured, or tampering).
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}

/// The remote settings of `name` with the decrypted token; `None` when there is no such
/// definition.
pub async fn settings(
    conn: &mut Conn,
    secrets: &SecretBox,
    scope: &Scope,
    name: &str,
) -> Result<Option<RemoteSettings>, RemoteError> {
    let Some(row) = store::find_row(conn, scope, name, false)
        .await
        .map_err(StoreError::from)?
    else {
        return Ok(None);
    };
    let token = match &row.remote_bearer_token_enc {
        Some(sealed) => Some(RemoteToken(
            secrets.open(&store::token_owner(scope, name), sealed)?,
        )),
        None => None,
    };
    Ok(Some(RemoteSettings {
        name: row.name,
        remote_enabled: row.remote_enabled,
        remote_name: row.remote_name,
        remote_epilog_url: row.remote_epilog_url,
        remote_bearer_token: token,
        remote_timeout_seconds: row.remote_timeout_seconds,
    }))
}
