//! The internal read APIs the gateway calls: it authenticates the caller and passes the
//! caller's scope in two headers, which the owning services trust. These routes are not
//! exposed publicly (DESIGN.md §2: only the gateway faces integrators).

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::StatusCode};
use futures::future::{Ready, ready};
use loopdesk_contracts::{Env, Scope, Tenant};

use crate::Problem;

/// Header carrying the caller's tenant.
pub const TENANT_HEADER: &str = "x-loopdesk-tenant";
/// Header carrying the caller's env.
pub const ENV_HEADER: &str = "x-loopdesk-env";

/// The caller's scope, from the gateway's headers.
#[derive(Debug, Clone)]
pub struct CallerScope(pub Scope);

impl CallerScope {
    /// The scope every query of the request is limited to.
    pub fn scope(&self) -> &Scope {
        &self.0
    }
}

impl FromRequest for CallerScope {
    type Error = Problem;
    type Future = Ready<Result<Self, Problem>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        let scope = header(TENANT_HEADER)
            .and_then(|t| Tenant::parse(t).ok())
            .zip(header(ENV_HEADER).and_then(|e| e.parse::<Env>().ok()))
            .map(|(tenant, env)| CallerScope(Scope { tenant, env }))
            .ok_or_else(|| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    "missing_scope",
                    "Missing scope",
                    format!("`{TENANT_HEADER}` and `{ENV_HEADER}` headers are required"),
                )
            });
        ready(scope)
    }
}
