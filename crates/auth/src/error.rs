//! Why a key was refused or could not be minted.

/// An error from minting or verifying a key.
///
/// Messages never include the token or a secret, so they are safe to log and to show
/// to the caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The `Authorization` header is not `Bearer <token>`.
    #[error("the Authorization header must be `Bearer <api key>`")]
    NotBearer,
    /// The token does not start with `ld_test_` or `ld_live_`.
    #[error("the API key must start with `ld_test_` or `ld_live_`")]
    MissingPrefix,
    /// The part after the prefix is not a well-formed JWT.
    #[error("the API key is malformed")]
    MalformedToken,
    /// The JWT header names an algorithm other than HS256 (including `none`).
    #[error("the API key uses an unsupported signing algorithm")]
    UnsupportedAlgorithm,
    /// The JWT header has no `kid`, or one that is not configured (any more).
    #[error("the API key was signed with an unknown or retired key id")]
    UnknownKid,
    /// The signature does not match.
    #[error("the API key's signature is invalid")]
    BadSignature,
    /// `exp` is in the past.
    #[error("the API key has expired")]
    Expired,
    /// The claims are missing or have the wrong shape (unknown ability, bad tenant, ...).
    #[error("the API key's claims are invalid: {0}")]
    InvalidClaims(String),
    /// The `env` claim differs from the key's prefix.
    #[error("the API key's prefix does not match its environment")]
    EnvMismatch,
    /// The key's `jti` is on the revocation list.
    #[error("the API key has been revoked")]
    Revoked,
    /// A mint request that cannot produce a usable key.
    #[error("cannot mint the key: {0}")]
    InvalidRequest(&'static str),
    /// The JWT library could not sign.
    #[error("signing the key failed")]
    Signing,
}
