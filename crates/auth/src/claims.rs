//! What a verified key says about its holder.

use loopdesk_contracts::{Env, Scope, Tenant, ids::KeyId};
use serde::{Deserialize, Serialize};

use crate::Ability;

/// The claims of an API key's JWT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who or what the key is for, e.g. `remote:shop` or `user:alice`.
    pub sub: String,
    /// The tenant whose data the key reaches.
    pub tenant: Tenant,
    /// Test or live; always equal to the key's `ld_{env}_` prefix.
    pub env: Env,
    /// What the key may do.
    pub abilities: Vec<Ability>,
    /// The key's id, used for revocation.
    pub jti: KeyId,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// A free-form description chosen when the key was minted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl Claims {
    /// Whether the key carries `ability`.
    pub fn has(&self, ability: Ability) -> bool {
        self.abilities.contains(&ability)
    }

    /// The tenant and env every request made with this key is confined to.
    pub fn scope(&self) -> Scope {
        Scope {
            tenant: self.tenant.clone(),
            env: self.env,
        }
    }
}
