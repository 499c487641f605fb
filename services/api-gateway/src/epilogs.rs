//! Epilog jobs (DESIGN.md §7): staff list them (`?status=failed` to find the ones that
//! need a hand), read one with its attempts, and retry a failed or rejected one. Reads
//! come from epilog-dispatcher's internal API; a retry is the `epilog.retry` command.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    FieldError,
    epilogs::{EpilogCommand, EpilogReply, EpilogStatus},
    ids::EpilogJobId,
};
use loopdesk_web::Problem;
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    writes::send_command,
};

/// Registers the epilog routes (under `/v1`).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/epilog_jobs", web::get().to(list_jobs))
        .route("/epilog_jobs/{id}", web::get().to(get_job))
        .route("/epilog_jobs/{id}/retry", web::post().to(retry_job));
}

/// `GET /v1/epilog_jobs` parameters.
#[derive(Debug, Deserialize, Serialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only jobs in this state (`failed` lists the ones that need a hand).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<loopdesk_contracts::epilogs::EpilogStatus>)]
    status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u16>,
    /// The `next_cursor` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
}

impl ListParams {
    fn checked(self) -> Result<Self, Problem> {
        let mut errors = Vec::new();
        if self.limit.is_some_and(|l| !(1..=100).contains(&l)) {
            errors.push(FieldError::new("limit", "must be between 1 and 100"));
        }
        if self
            .status
            .as_deref()
            .is_some_and(|s| EpilogStatus::parse(s).is_none())
        {
            errors.push(FieldError::new(
                "status",
                "must be pending, succeeded, failed, rejected or skipped",
            ));
        }
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(Problem::validation(errors))
        }
    }
}

/// `GET /v1/epilog_jobs?status=&limit=&cursor=`: newest first.
#[utoipa::path(
    get, path = "/v1/epilog_jobs", operation_id = "list_epilog_jobs", tag = "epilogs",
    params(ListParams),
    responses(
        (status = 200, description = "One page of jobs, newest first.", body = loopdesk_contracts::pagination::Page<loopdesk_contracts::epilogs::EpilogJob>),
        (status = 422, description = "A parameter is invalid."),
    )
)]
pub async fn list_jobs(
    caller: Caller,
    state: web::Data<GatewayState>,
    params: web::Query<ListParams>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let params = params.into_inner().checked()?;
    state
        .epilogs
        .get(&caller.scope(), "/internal/v1/epilog_jobs", &params)
        .await
}

/// `GET /v1/epilog_jobs/{id}`: the job with its attempts.
#[utoipa::path(
    get, path = "/v1/epilog_jobs/{id}", operation_id = "get_epilog_job", tag = "epilogs",
    params(("id" = String, Path, description = "The job. An `epj_` id.")),
    responses(
        (status = 200, description = "The job with its attempts, oldest first.", body = loopdesk_contracts::epilogs::EpilogJobDetail),
        (status = 404, description = "No such epilog job."),
    )
)]
pub async fn get_job(
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsRead)?;
    let id = job_id(&id)?;
    let path = format!("/internal/v1/epilog_jobs/{id}");
    state.epilogs.relay(&caller, &path).await
}

/// `POST /v1/epilog_jobs/{id}/retry`: a failed or rejected job is due again now.
#[utoipa::path(
    post, path = "/v1/epilog_jobs/{id}/retry", operation_id = "retry_epilog_job", tag = "epilogs",
    params(("id" = String, Path, description = "The job. An `epj_` id."), crate::docs::IdempotencyKey),
    responses(
        (status = 202, description = "The job, due again now; or, while the retry is still queued, `accepted`.", body = crate::docs::EpilogRetry),
        (status = 404, description = "No such epilog job."),
        (status = 409, description = "`epilog_job_not_retryable`: only failed or rejected jobs can be retried."),
    )
)]
pub async fn retry_job(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let job_id = job_id(&id)?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body)?;
    let command = EpilogCommand::Retry {
        job_id,
        actor: caller.actor(),
    };
    send_command(
        &state,
        &caller,
        &keyed,
        job_id.to_string(),
        |_| Ok(command),
        |sent, id| match sent {
            Sent::Answered(EpilogReply::Job { job }) => {
                Answer::json(StatusCode::ACCEPTED, &job, None)
            }
            // Queued: a refusal is answered before `render`.
            Sent::Answered(EpilogReply::Rejected { .. }) | Sent::Queued => Answer::json(
                StatusCode::ACCEPTED,
                &serde_json::json!({
                    "id": id,
                    "state": "accepted",
                    "detail": "the retry is queued",
                }),
                None,
            ),
        },
    )
    .await
}

/// A path's job id; a malformed one is simply not found.
fn job_id(text: &str) -> Result<EpilogJobId, Problem> {
    text.parse().map_err(|_| Problem::not_found("epilog job"))
}
