//! Pieces of the OpenAPI document that are not a handler's own: the problem+json body,
//! the request headers several operations share. `crate::openapi` assembles the rest.

pub mod ui;

use serde::Serialize;
use utoipa::{IntoParams, ToSchema};

/// An RFC 9457 problem, as every 4xx/5xx answers (`application/problem+json`).
/// Mirrors what `loopdesk_web::Problem` writes; it exists for the document only.
#[derive(Serialize, ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody {
    /// A URI naming the kind of problem.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short, human summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong this time.
    pub detail: String,
    /// A stable, snake_case machine code (`validation_failed`, `not_found`, ...).
    pub code: String,
    /// For validation failures: one entry per offending field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemField>,
}

/// One field named by a validation problem.
#[derive(Serialize, ToSchema)]
pub struct ProblemField {
    /// The field's JSON path, e.g. `requester.email`.
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// The `Idempotency-Key` header every mutation takes.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyKey {
    /// A unique key per intended change (e.g. a UUID). The same key with the same body
    /// answers the original status and body again, with `Idempotent-Replayed: true`;
    /// with another body, 409 `idempotency_key_reused`. Kept at least 24 hours.
    #[param(rename = "Idempotency-Key")]
    pub idempotency_key: String,
}

/// The `If-Match` header an update is guarded by.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IfMatch {
    /// The `ETag` of the version read (`"3"`, `W/"3"` or `3`). Absent: 428; another
    /// version: 412.
    #[param(rename = "If-Match")]
    pub if_match: String,
}

/// Paging parameters of a collection.
#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A list that is not paginated: `{"data": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    /// Every item.
    pub data: Vec<T>,
}

/// The body of a 202: the change is durable and will be applied once; `Location` (when
/// sent) reads the resource.
#[derive(Serialize, ToSchema)]
pub struct Accepted {
    /// The resource's id.
    pub id: String,
    /// Always `accepted`.
    pub state: String,
    /// What happens next.
    pub detail: String,
}

/// The answer to `POST /v1/epilog_jobs/{id}/retry`: the job as it now stands or, while
/// the retry is still queued, `Accepted`.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum EpilogRetry {
    /// The epilog dispatcher answered within the deadline.
    Job(Box<loopdesk_contracts::epilogs::EpilogJob>),
    /// The retry is queued and will be applied once.
    Queued(Accepted),
}

/// The body of a 202 for an intervention definition, named by its `name`.
#[derive(Serialize, ToSchema)]
pub struct AcceptedDefinition {
    /// The definition's name.
    pub name: String,
    /// Always `accepted`.
    pub state: String,
    /// What happens next.
    pub detail: String,
}

/// The answer to a deletion.
#[derive(Serialize, ToSchema)]
pub struct Deleted {
    /// The deleted resource's id.
    pub id: String,
    /// Always `true`.
    pub deleted: bool,
}

/// The answer to `POST /v1/webhook_endpoints/{id}/recover`.
#[derive(Serialize, ToSchema)]
pub struct Recovering {
    /// The endpoint.
    pub endpoint_id: String,
    /// How many failed deliveries are sent again.
    pub deliveries: u64,
}

/// The answer to revoking an API key.
#[derive(Serialize, ToSchema)]
pub struct Revoked {
    /// The key's id.
    pub id: String,
    /// Always `true`.
    pub revoked: bool,
}
