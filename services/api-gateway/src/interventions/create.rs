//! Intervention mode of ticket creation (seed §5.2): `POST /v1/tickets` with
//! `intervention`, `uid` and `data`, and `POST /api/create_ticket` in the guide's shape.
//! Both send `intervention.create` to the intervention service, which creates the ticket
//! (or refreshes the `uid`'s open payload) and answers which templates it used.

use actix_web::{HttpResponse, http::StatusCode};
use loopdesk_contracts::{
    FieldError,
    ids::TicketId,
    interventions::{
        CreateInterventionTicket, InterventionCommand, InterventionCreated, InterventionReply,
    },
    tickets::Requester,
};
use loopdesk_web::Problem;
use serde::Serialize;

use crate::{
    caller::Caller,
    command_bus::Sent,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{
        create::location,
        fields::{Checks, CreateTicketRequest, SUBJECT_MAX},
    },
    writes::send_command,
};

const UID_MAX: usize = 255;
const NAME_MAX: usize = 255;

/// A validated intervention-mode request, before the ticket id is known.
#[derive(Debug)]
pub struct InterventionRequest {
    intervention: String,
    uid: String,
    data: serde_json::Value,
    requester: Requester,
    subject: Option<String>,
}

/// Whether a create request is in intervention mode.
pub fn is_intervention(request: &CreateTicketRequest) -> bool {
    request.intervention.is_some() || request.uid.is_some() || request.data.is_some()
}

impl InterventionRequest {
    /// Validates the intervention members of `request`, reporting every bad field. The
    /// subject is `subject`, else the data bag's `title`, else the definition's title.
    pub fn from_request(request: CreateTicketRequest) -> Result<Self, Vec<FieldError>> {
        let mut checks = Checks::default();
        let intervention = checks.line("intervention", request.intervention.as_deref(), 64);
        let uid = checks.line("uid", request.uid.as_deref(), UID_MAX);
        let data = request.data.unwrap_or_else(|| serde_json::json!({}));
        if !data.is_object() {
            checks.fail("data", "must be a JSON object");
        }
        let requester = match &request.requester {
            Some(r) => Requester {
                email: checks.email("requester.email", &r.email),
                name: r
                    .name
                    .as_deref()
                    .map(|n| checks.text("requester.name", Some(n.trim()), NAME_MAX))
                    .filter(|n| !n.is_empty()),
            },
            None => {
                checks.fail("requester", "is required");
                Requester {
                    email: String::new(),
                    name: None,
                }
            }
        };
        let title = data
            .get("title")
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        let subject = request
            .subject
            .or(title)
            .map(|s| checks.line("subject", Some(&s), SUBJECT_MAX));
        checks.finish(Self {
            intervention,
            uid,
            data,
            requester,
            subject,
        })
    }
}

/// The v1 answer to an intervention-mode create.
#[derive(Serialize)]
pub struct Created<'a> {
    /// The intervention's name.
    pub intervention: &'a str,
    /// The remote's correlation id.
    pub uid: &'a str,
    /// What happened: ticket and payload ids, flags.
    #[serde(flatten)]
    pub created: &'a InterventionCreated,
}

#[derive(Serialize)]
struct Queued<'a> {
    ticket_id: &'a str,
    state: &'static str,
    detail: &'static str,
}

/// How an intervention-mode create ended.
pub enum Outcome<'a> {
    /// Applied (or had been).
    Created(&'a InterventionCreated),
    /// Queued, not yet answered: the proposed ticket id.
    Queued(&'a str),
}

/// Runs an intervention-mode create under the request's idempotency key; `render`
/// shapes the answer (v1 and the guide's route differ); a refusal is answered as a
/// problem.
pub async fn run(
    state: &GatewayState,
    caller: &Caller,
    keyed: &KeyedRequest,
    request: InterventionRequest,
    render: impl FnOnce(Outcome<'_>, &InterventionRequest) -> Answer,
) -> Result<HttpResponse, Problem> {
    let actor = caller.actor();
    send_command(
        state,
        caller,
        keyed,
        TicketId::generate().to_string(),
        |ticket_id| {
            Ok(InterventionCommand::Create(CreateInterventionTicket {
                // A takeover of a stalled attempt reuses that attempt's ticket id.
                ticket_id: ticket_id.parse().map_err(|_| Problem::internal())?,
                intervention: request.intervention.clone(),
                uid: request.uid.clone(),
                data: request.data.clone(),
                requester: request.requester.clone(),
                subject: request.subject.clone(),
                actor,
            }))
        },
        |sent, ticket_id| match sent {
            Sent::Answered(InterventionReply::Created(created)) => {
                render(Outcome::Created(&created), &request)
            }
            Sent::Answered(_) => {
                tracing::error!("unexpected reply to intervention.create");
                Answer::problem(&Problem::internal())
            }
            Sent::Queued => render(Outcome::Queued(ticket_id), &request),
        },
    )
    .await
}

/// The v1 rendering: 201 with the ticket and payload ids, or 202 while queued.
pub fn render_v1(outcome: Outcome<'_>, request: &InterventionRequest) -> Answer {
    match outcome {
        Outcome::Created(created) => {
            let at = location(&created.ticket_id.to_string());
            Answer::json(
                StatusCode::CREATED,
                &Created {
                    intervention: &request.intervention,
                    uid: &request.uid,
                    created,
                },
                Some(at),
            )
        }
        Outcome::Queued(id) => queued(id),
    }
}

/// 202: the intervention ticket is on its way.
pub fn queued(id: &str) -> Answer {
    Answer::json(
        StatusCode::ACCEPTED,
        &Queued {
            ticket_id: id,
            state: "accepted",
            detail: "the intervention is being applied; GET the Location to read the ticket",
        },
        Some(location(id)),
    )
}

#[derive(Serialize)]
struct Guide<T> {
    ok: bool,
    data: T,
}

/// The guide's rendering (seed §5.2): `{ok: true, data: {ticket_id, payload_id,
/// used_intervention, created_ticket, reopened, follow_up_of}}`, 200 (202 while queued).
pub fn render_compat(outcome: Outcome<'_>, _request: &InterventionRequest) -> Answer {
    match outcome {
        Outcome::Created(created) => Answer::json(
            StatusCode::OK,
            &Guide {
                ok: true,
                data: created,
            },
            Some(location(&created.ticket_id.to_string())),
        ),
        Outcome::Queued(id) => Answer::json(
            StatusCode::ACCEPTED,
            &Guide {
                ok: true,
                data: Queued {
                    ticket_id: id,
                    state: "accepted",
                    detail: "the intervention is being applied; GET the Location to read the ticket",
                },
            },
            Some(location(id)),
        ),
    }
}
