//! Who is calling: the verified API key behind the request, and what it may do.

use actix_web::{
    FromRequest, HttpRequest,
    dev::Payload,
    http::{StatusCode, header},
    web,
};
use futures::future::{Ready, ready};
use loopdesk_auth::{Ability, AuthError, Claims, KeyRing, RevocationList, bearer_token};
use loopdesk_contracts::{Actor, ActorKind, Scope};
use loopdesk_web::Problem;

use crate::rate_limit::RateLimiter;

/// What authentication needs at request time.
pub struct Gatekeeper {
    /// Verification keys.
    pub keys: KeyRing,
    /// Revoked key ids.
    pub revocations: RevocationList,
    /// Per-key request budget.
    pub rate_limiter: RateLimiter,
}

/// A request's verified API key.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's claims.
    pub claims: Claims,
}

impl Caller {
    /// The tenant and env every read and write of this request is scoped to.
    pub fn scope(&self) -> Scope {
        self.claims.scope()
    }

    /// Refuses with 403 unless the key has `ability`.
    pub fn require(&self, ability: Ability) -> Result<(), Problem> {
        self.require_any(&[ability])
    }

    /// Refuses with 403 unless the key has one of `abilities`.
    pub fn require_any(&self, abilities: &[Ability]) -> Result<(), Problem> {
        if abilities.iter().any(|a| self.claims.has(*a)) {
            return Ok(());
        }
        let names: Vec<&str> = abilities.iter().map(|a| a.as_str()).collect();
        Err(Problem::new(
            StatusCode::FORBIDDEN,
            "missing_ability",
            "Missing ability",
            format!("this API key needs the `{}` ability", names.join("` or `")),
        )
        .with("required_abilities", names))
    }

    /// The key as the actor of a change.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: ActorKind::ApiKey,
            id: self.claims.sub.clone(),
            key_id: Some(self.claims.jti.to_string()),
        }
    }
}

impl FromRequest for Caller {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}

fn authenticate(req: &HttpRequest) -> Result<Caller, Problem> {
    let Some(gatekeeper) = req.app_data::<web::Data<Gatekeeper>>() else {
        tracing::error!("Gatekeeper missing from app data");
        return Err(Problem::internal());
    };
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or_else(|| unauthenticated("send your API key as `Authorization: Bearer ld_test_...`"))?
        .to_str()
        .map_err(|_| unauthenticated(AuthError::NotBearer))?;
    let token = bearer_token(header).map_err(unauthenticated)?;
    let claims = gatekeeper.keys.verify(token).map_err(unauthenticated)?;
    gatekeeper
        .revocations
        .check(&claims)
        .map_err(unauthenticated)?;
    let budget = gatekeeper.rate_limiter.admit(&claims.jti)?;
    crate::rate_limit::remember(req, budget);
    Ok(Caller { claims })
}

fn unauthenticated(reason: impl std::fmt::Display) -> Problem {
    Problem::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "Unauthenticated",
        reason.to_string(),
    )
    .with_header(header::WWW_AUTHENTICATE, "Bearer")
}
