//! `POST /v1/tickets/{id}/interventions/{itv}/submit` (seed §5.4): staff send the
//! edited data bag with an action and, optionally, a response. The intervention service
//! checks the data against the fields, posts the initiating response and asks the
//! epilog dispatcher to call the remote; the answer is 202 with the response's id.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::{
    ids::{InterventionPayloadId, ResponseId, TicketId},
    interventions::{
        InterventionCommand, InterventionReply, SubmitIntervention, SubmittedResponse,
    },
};
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    writes::send_command,
};

/// The submission.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmitRequest {
    /// What staff chose (`submit`, `accept`, ...), 1 to 64 characters; the remote
    /// receives it in the epilog.
    action: String,
    /// The edited data bag: a JSON object, checked against the definition's fields.
    #[schema(value_type = Object)]
    data: serde_json::Value,
    /// A response to post on the ticket; without one, a private note records the
    /// submission.
    #[serde(default)]
    response: Option<SubmittedResponse>,
}

/// The answer to a submission.
#[derive(Serialize, utoipa::ToSchema)]
struct Submitted<'a> {
    /// The payload (`itv_`).
    payload_id: String,
    /// The initiating response (`rsp_`), the one the remote's `final` refers to.
    response_id: &'a str,
    /// `submitted` when the intervention service took it within the deadline,
    /// `accepted` while the command is still queued (it will be applied once).
    status: &'static str,
}

/// `POST /v1/tickets/{id}/interventions/{itv}/submit`.
#[utoipa::path(
    post, path = "/v1/tickets/{id}/interventions/{itv}/submit", operation_id = "submit_intervention", tag = "interventions",
    params(
        ("id" = String, Path, description = "The ticket. A `tkt_` id."),
        ("itv" = String, Path, description = "The intervention payload on it. An `itv_` id."),
        crate::docs::IdempotencyKey,
    ),
    request_body = SubmitRequest,
    responses(
        (status = 202, description = "Submitted (or queued): the response is posted and the epilog requested.", body = Submitted),
        (status = 404, description = "No such ticket, or `intervention_payload_not_found`."),
        (status = 409, description = "`intervention_accepted` (the payload takes no more submissions) or `ticket_closed`."),
        (status = 422, description = "`validation_failed`: the action, the response or the data bag (against the definition's fields)."),
    )
)]
pub async fn submit(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    path: web::Path<(String, String)>,
    body: JsonBody<SubmitRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require(Ability::TicketsWrite)?;
    let (ticket, payload) = path.into_inner();
    let ticket_id: TicketId = ticket.parse().map_err(|_| Problem::not_found("ticket"))?;
    let payload_id: InterventionPayloadId = payload
        .parse()
        .map_err(|_| Problem::not_found("intervention payload"))?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value;
    let actor = caller.actor();
    send_command(
        &state,
        &caller,
        &keyed,
        ResponseId::generate().to_string(),
        |response_id| {
            Ok(InterventionCommand::Submit(SubmitIntervention {
                ticket_id,
                payload_id,
                action: request.action,
                data: request.data,
                response: request.response,
                // A takeover of a stalled attempt reuses that attempt's response id.
                response_id: response_id.parse().map_err(|_| Problem::internal())?,
                actor,
            }))
        },
        |sent, response_id| {
            let status = match sent {
                Sent::Answered(InterventionReply::Submitted { .. }) => "submitted",
                Sent::Queued => "accepted",
                Sent::Answered(_) => {
                    tracing::error!("unexpected reply to intervention.submit");
                    return Answer::problem(&Problem::internal());
                }
            };
            Answer::json(
                StatusCode::ACCEPTED,
                &Submitted {
                    payload_id: payload_id.to_string(),
                    response_id,
                    status,
                },
                None,
            )
        },
    )
    .await
}
