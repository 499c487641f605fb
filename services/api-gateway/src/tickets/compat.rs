//! `POST /api/create_ticket`: the request shape of the intervention integrator's guide
//! (seed 000), so a remote system written against it works unchanged. It answers
//! `{"ok": true, "data": {...}}`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use loopdesk_auth::Ability;
use loopdesk_contracts::tickets::Priority;
use loopdesk_web::{JsonBody, Problem};
use serde::{Deserialize, Serialize};

use crate::{
    caller::Caller,
    idempotency::{Answer, KeyedRequest},
    state::GatewayState,
    tickets::{
        create::{Creation, location, run_create},
        fields::{CreateTicketRequest, RequesterInput},
    },
};

/// The guide's request. Unknown members are ignored, as the guide's own API did.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct CompatRequest {
    originator_email_address: Option<String>,
    intervention: Option<String>,
    uid: Option<String>,
    data: Option<serde_json::Value>,
    subject: Option<String>,
    #[serde(alias = "description")]
    body: Option<String>,
    priority: Option<Priority>,
    queue: Option<String>,
    tags: Option<Vec<String>>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Envelope<T> {
    ok: bool,
    data: T,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Created {
    ticket_id: String,
    created: bool,
    ticket: Option<Box<loopdesk_contracts::tickets::Ticket>>,
    used_intervention: UsedTemplates,
}

/// Which intervention templates were rendered (the guide's "used_intervention flags").
#[derive(Serialize, Default, utoipa::ToSchema)]
struct UsedTemplates {
    private: bool,
    public: bool,
}

/// `POST /api/create_ticket`.
#[utoipa::path(
    post, path = "/api/create_ticket", operation_id = "create_ticket_compat", tag = "compatibility",
    params(crate::docs::IdempotencyKey),
    request_body = CompatRequest,
    responses(
        (status = 200, description = "The guide's answer: `{ok: true, data: {...}}`.", body = Envelope<Created>),
        (status = 202, description = "Accepted: the ticket will be created once.", body = Envelope<Created>),
        (status = 422, description = "`validation_failed`."),
    )
)]
pub async fn create_ticket(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<GatewayState>,
    body: JsonBody<CompatRequest>,
) -> Result<HttpResponse, Problem> {
    caller.require_any(&[Ability::CreateTicket, Ability::TicketsWrite])?;
    let keyed = KeyedRequest::from_request(&req, caller.scope(), &body.raw)?;
    let request = body.value.into_request();
    if crate::interventions::create::is_intervention(&request) {
        use crate::interventions::create::{InterventionRequest, render_compat, run};
        let request = InterventionRequest::from_request(request).map_err(Problem::validation)?;
        return run(&state, &caller, &keyed, request, render_compat).await;
    }
    let new_ticket = request.into_new_ticket().map_err(Problem::validation)?;
    run_create(
        &state,
        &caller,
        &keyed,
        new_ticket,
        |creation| match creation {
            Creation::Created(ticket) => {
                let id = ticket.id.to_string();
                Answer::json(
                    StatusCode::OK,
                    &Envelope {
                        ok: true,
                        data: Created {
                            ticket_id: id.clone(),
                            created: true,
                            ticket: Some(ticket),
                            used_intervention: UsedTemplates::default(),
                        },
                    },
                    Some(location(&id)),
                )
            }
            Creation::Queued(id) => Answer::json(
                StatusCode::ACCEPTED,
                &Envelope {
                    ok: true,
                    data: Created {
                        ticket_id: id.clone(),
                        created: false,
                        ticket: None,
                        used_intervention: UsedTemplates::default(),
                    },
                },
                Some(location(&id)),
            ),
        },
    )
    .await
}

impl CompatRequest {
    /// Maps the guide's names onto a v1 create request, so both routes share one set
    /// of rules. The subject falls back to the data bag's `title`, as the guide's payload
    /// convention allows.
    fn into_request(self) -> CreateTicketRequest {
        let title = self
            .data
            .as_ref()
            .and_then(|d| d.get("title"))
            .and_then(|t| t.as_str())
            .map(str::to_owned);
        let subject = self.subject.or(title).or_else(|| {
            self.originator_email_address
                .as_deref()
                .map(|email| format!("Request from {}", email.trim()))
        });
        // Without an intervention the data bag only lends its title.
        let data = if self.intervention.is_some() {
            self.data
        } else {
            None
        };
        CreateTicketRequest {
            subject,
            description: self.body,
            requester: self
                .originator_email_address
                .map(|email| RequesterInput { email, name: None }),
            priority: self.priority,
            queue: self.queue,
            tags: self.tags,
            source: Some("api".to_owned()),
            metadata: None,
            follow_up_of: None,
            intervention: self.intervention,
            uid: self.uid,
            data,
        }
    }
}
