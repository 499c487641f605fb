//! Loopdesk API keys.
//!
//! A key is `ld_test_<jwt>` or `ld_live_<jwt>`: an HS256 JWT whose header `kid` names
//! the verification secret (several are configured, so secrets can rotate), and whose
//! claims say who the key is for, its tenant, env and abilities. Revoked key ids are
//! checked against an in-memory [`RevocationList`].

mod ability;
mod bearer;
mod claims;
mod error;
mod keyring;
mod revocation;
mod settings;

pub use ability::{Ability, UnknownAbility};
pub use bearer::{bearer_token, split_prefix};
pub use claims::Claims;
pub use error::AuthError;
pub use keyring::{KeyRing, MintRequest, MintedKey};
pub use revocation::RevocationList;
pub use settings::{KeyConfigError, KeySettings, MIN_SECRET_BYTES};
