//! Minting and verifying keys with the configured secrets.

use std::{collections::BTreeMap, fmt, sync::Arc};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, errors::ErrorKind};
use loopdesk_contracts::{Env, Tenant, ids::KeyId};
use secrecy::ExposeSecret;
use serde::Deserialize;

use crate::{
    Ability, AuthError, Claims, KeyConfigError, KeySettings,
    bearer::{prefix_for, split_prefix},
};

/// Clock skew tolerated on `exp`, in seconds: enough for drifting hosts, small enough
/// that an expired key stops working promptly.
const LEEWAY_SECS: u64 = 5;

/// What to put in a new key.
#[derive(Debug, Clone)]
pub struct MintRequest {
    /// Who or what the key is for, e.g. `remote:shop`.
    pub sub: String,
    /// The tenant the key reaches.
    pub tenant: Tenant,
    /// Test or live; decides the `ld_{env}_` prefix.
    pub env: Env,
    /// What the key may do.
    pub abilities: Vec<Ability>,
    /// How long the key is valid; must be positive.
    pub ttl: chrono::Duration,
    /// An optional description.
    pub label: Option<String>,
}

/// A freshly minted key. `token` is the secret to hand over once; `claims` is what to
/// record (its `jti` is the key's id).
#[derive(Clone)]
pub struct MintedKey {
    /// The full bearer string, `ld_{env}_<jwt>`.
    pub token: String,
    /// The claims signed into the token.
    pub claims: Claims,
}

impl fmt::Debug for MintedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MintedKey")
            .field("token", &"[REDACTED]")
            .field("claims", &self.claims)
            .finish()
    }
}

/// The signing and verification keys built from [`KeySettings`]. Cheap to clone.
#[derive(Clone)]
pub struct KeyRing {
    inner: Arc<Inner>,
}

struct Inner {
    active_kid: String,
    signing: EncodingKey,
    verifying: BTreeMap<String, DecodingKey>,
    validation: Validation,
}

/// The header fields we look at before choosing a key; parsed by hand so that an
/// algorithm jsonwebtoken does not know (`none`) is still reported as unsupported.
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
}

impl KeyRing {
    /// Validates the settings and prepares a key per kid.
    pub fn from_settings(settings: &KeySettings) -> Result<KeyRing, KeyConfigError> {
        settings.validate()?;
        let verifying = settings
            .keys
            .iter()
            .map(|(kid, secret)| {
                let key = DecodingKey::from_secret(secret.expose_secret().as_bytes());
                (kid.clone(), key)
            })
            .collect();
        let active_secret = settings
            .keys
            .get(&settings.active_kid)
            .ok_or_else(|| KeyConfigError::ActiveKidMissing(settings.active_kid.clone()))?;
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_required_spec_claims(&["exp"]);
        Ok(KeyRing {
            inner: Arc::new(Inner {
                active_kid: settings.active_kid.clone(),
                signing: EncodingKey::from_secret(active_secret.expose_secret().as_bytes()),
                verifying,
                validation,
            }),
        })
    }

    /// The kid new keys are signed with.
    pub fn active_kid(&self) -> &str {
        &self.inner.active_kid
    }

    /// Signs a new key with the active kid; returns the full bearer string
    /// `ld_{env}_<jwt>` and the claims.
    pub fn mint(&self, request: MintRequest) -> Result<MintedKey, AuthError> {
        if request.ttl <= chrono::Duration::zero() {
            return Err(AuthError::InvalidRequest(
                "the time to live must be positive",
            ));
        }
        if request.sub.trim().is_empty() {
            return Err(AuthError::InvalidRequest("the subject must not be empty"));
        }
        let iat = chrono::Utc::now().timestamp();
        let exp = iat
            .checked_add(request.ttl.num_seconds())
            .ok_or(AuthError::InvalidRequest("the time to live is too long"))?;
        let claims = Claims {
            sub: request.sub,
            tenant: request.tenant,
            env: request.env,
            abilities: request.abilities,
            jti: KeyId::generate(),
            iat,
            exp,
            label: request.label,
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.inner.active_kid.clone());
        let jwt = jsonwebtoken::encode(&header, &claims, &self.inner.signing)
            .map_err(|_| AuthError::Signing)?;
        Ok(MintedKey {
            token: format!("{}{jwt}", prefix_for(claims.env)),
            claims,
        })
    }

    /// Parses `ld_test_...`/`ld_live_...`, checks the algorithm (HS256 only), the kid,
    /// the signature, `exp` (a few seconds of leeway) and that the `env` claim matches
    /// the prefix; returns the claims. Revocation is the caller's
    /// ([`crate::RevocationList::check`]).
    pub fn verify(&self, bearer: &str) -> Result<Claims, AuthError> {
        let (prefix_env, jwt) = split_prefix(bearer)?;
        let header = raw_header(jwt)?;
        // Checked before any key is touched, so `alg: none` or an RSA/HS512 label can
        // never pick a different verification path.
        if header.alg != "HS256" {
            return Err(AuthError::UnsupportedAlgorithm);
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.inner.verifying.get(kid))
            .ok_or(AuthError::UnknownKid)?;
        let claims = jsonwebtoken::decode::<Claims>(jwt, key, &self.inner.validation)
            .map_err(|e| map_jwt_error(e.into_kind()))?
            .claims;
        if claims.env != prefix_env {
            return Err(AuthError::EnvMismatch);
        }
        Ok(claims)
    }
}

fn raw_header(jwt: &str) -> Result<RawHeader, AuthError> {
    let mut parts = jwt.split('.');
    let (Some(header), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(AuthError::MalformedToken);
    };
    let bytes = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| AuthError::MalformedToken)?;
    serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)
}

fn map_jwt_error(kind: ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::InvalidAlgorithm | ErrorKind::UnsupportedAlgorithm => {
            AuthError::UnsupportedAlgorithm
        }
        ErrorKind::MissingRequiredClaim(claim) | ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::InvalidClaims(format!("`{claim}` is missing or malformed"))
        }
        // serde's message names the field and the expected shape; cap it so a
        // hostile payload cannot blow up logs.
        ErrorKind::Json(e) => AuthError::InvalidClaims(e.to_string().chars().take(200).collect()),
        _ => AuthError::MalformedToken,
    }
}

impl fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyRing")
            .field("active_kid", &self.inner.active_kid)
            .field("kids", &self.inner.verifying.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}
